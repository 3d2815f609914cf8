/**
 * Host names to addresses, before anything reaches a driver: drivers take numeric addresses
 * only. A name goes to the system resolver (`node:dns` lookup, which runs in libuv's thread
 * pool, off the event loop), or to the caller's own `lookup`.
 */
import * as Effect from "effect/Effect"
import { lookup as systemLookup } from "node:dns"
import { isIP } from "node:net"
import * as RioError from "../RioError.js"

/** A resolver: the addresses of `host`, in the order to try them. */
export type Lookup = (host: string) => Effect.Effect<ReadonlyArray<string>, RioError.WSAHOST_NOT_FOUND>

const notFound = (operation: string, host: string, why: string, cause?: unknown) =>
  new RioError.WSAHOST_NOT_FOUND({
    operation,
    message: `Host ${JSON.stringify(host)} does not resolve (${why}): check the name, or pass a numeric address.`,
    cause
  })

/** Every address of `host` from the system resolver, in its order (IPv4 and IPv6 as they come). */
export const lookupSystem = (operation: string): Lookup => (host) =>
  Effect.async<ReadonlyArray<string>, RioError.WSAHOST_NOT_FOUND>((resume) => {
    systemLookup(host, { all: true }, (error, addresses) => {
      if (error !== null) return resume(Effect.fail(notFound(operation, host, error.code ?? error.message, error)))
      if (addresses.length === 0) return resume(Effect.fail(notFound(operation, host, "no addresses")))
      resume(Effect.succeed(addresses.map((entry) => entry.address)))
    })
  })

/**
 * The addresses to try for `host`: itself when numeric, else what `lookup` gives — checked,
 * since a custom lookup may answer anything.
 */
export const addressesOf = (
  operation: string,
  host: unknown,
  lookup: Lookup | undefined
): Effect.Effect<ReadonlyArray<string>, RioError.WSAHOST_NOT_FOUND | RioError.WSAEADDRNOTAVAIL> => {
  if (typeof host !== "string" || host.length === 0) {
    return Effect.fail(
      new RioError.WSAEADDRNOTAVAIL({
        operation,
        message: `Host ${JSON.stringify(host)} is not a host name or address.`
      })
    )
  }
  if (isIP(host) !== 0) return Effect.succeed([host])
  return Effect.flatMap((lookup ?? lookupSystem(operation))(host), (addresses) => {
    const bad = addresses.find((address) => isIP(address) === 0)
    if (bad !== undefined) return Effect.fail(notFound(operation, host, `the lookup answered ${JSON.stringify(bad)}`))
    if (addresses.length === 0) return Effect.fail(notFound(operation, host, "the lookup answered no addresses"))
    return Effect.succeed(addresses)
  })
}

/** Whether a failed connect to one address should go on to the next. */
export const tryNext = (error: { readonly _tag: string }): boolean =>
  error._tag === "WSAECONNREFUSED" || error._tag === "WSAEADDRNOTAVAIL" || error._tag === "WSAENETUNREACH" ||
  error._tag === "WSAEHOSTUNREACH" || error._tag === "WSAEAFNOSUPPORT" || error._tag === "WSAETIMEDOUT"
