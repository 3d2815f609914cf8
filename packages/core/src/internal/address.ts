/**
 * Checks of socket arguments, before anything reaches a driver: addresses as drivers take
 * them (a numeric host, an integer port), request-queue depths and receive-ring sizes.
 */
import { isIP } from "node:net"
import type { QueueOptions, SocketAddress, UnixAddress } from "../RegisteredSocket.js"
import * as RioError from "../RioError.js"

export const invalid = (operation: string, message: string) => new RioError.WSAEINVAL({ operation, message })

/** The address as the drivers take it: a numeric host, an integer port. */
export const parseAddress = (
  operation: string,
  host: unknown,
  port: unknown
): SocketAddress | RioError.WSAEINVAL | RioError.WSAEADDRNOTAVAIL => {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    return invalid(operation, `Port ${String(port)} is not an integer in 0..65535.`)
  }
  const numeric = host === "localhost" ? "127.0.0.1" : host
  const family = typeof numeric === "string" ? isIP(numeric) : 0
  if (family === 0) {
    return new RioError.WSAEADDRNOTAVAIL({
      operation,
      message: `Host ${JSON.stringify(host)} is not a numeric IPv4 or IPv6 address (or "localhost"): ` +
        "resolve names first, for example with node:dns."
    })
  }
  return { host: family === 6 ? canonicalIPv6(numeric as string) : numeric as string, port }
}

const canonical = new Map<string, string>()
const CANONICAL_ENTRIES = 1024

/**
 * An IPv6 address in the one spelling drivers report senders in (RFC 5952: lowercase, the
 * longest run of zeros as `::`; IPv4-mapped with its IPv4 part dotted), so that addresses compare
 * as text on every backend: `0:0:0:0:0:0:0:1` is `::1`. Remembered, for sends that name one.
 */
const canonicalIPv6 = (host: string): string => {
  // A zone (`fe80::1%eth0`) is kept as given: URL parsing would refuse it.
  if (host.includes("%")) return host
  let text = canonical.get(host)
  if (text !== undefined) return text
  text = new URL(`http://[${host}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text)
  if (mapped !== null) {
    const high = parseInt(mapped[1]!, 16)
    const low = parseInt(mapped[2]!, 16)
    text = `::ffff:${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`
  }
  if (canonical.size >= CANONICAL_ENTRIES) canonical.clear()
  canonical.set(host, text)
  return text
}

/**
 * A datagram's destination from an untrusted value, for a socket bound to `local`: a parsed
 * address whose port is not 0 and whose family the socket can reach — refused here, the same on
 * every backend, instead of by whatever each kernel says.
 */
export const parseDestination = (
  operation: string,
  local: SocketAddress,
  to: { readonly host?: unknown; readonly port?: unknown } | undefined
): SocketAddress | RioError.WSAEINVAL | RioError.WSAEADDRNOTAVAIL | RioError.WSAEAFNOSUPPORT => {
  const peer = parseAddress(operation, to?.host, to?.port)
  if (peer instanceof Error) return peer
  if (peer.port === 0) {
    return invalid(operation, `Port 0 is not a destination (${show(peer)}): send to the port the peer listens on.`)
  }
  // Both are valid numeric addresses here: a colon is the IPv6 family (no second isIP per send).
  if (peer.host.includes(":") && !local.host.includes(":")) {
    return new RioError.WSAEAFNOSUPPORT({
      operation,
      message: `This socket is bound to the IPv4 address ${show(local)}: it cannot send to the IPv6 address ` +
        `${show(peer)}. Bind it to "::" (dual stack) to reach both families, or send to an IPv4 address.`
    })
  }
  return peer
}

export const checkDepth = (operation: string, queues: QueueOptions): RioError.WSAEINVAL | undefined => {
  const check = (name: string, value: number | undefined) =>
    value === undefined || (Number.isSafeInteger(value) && value > 0)
      ? undefined
      : invalid(operation, `${name} ${String(value)} is not a positive integer.`)
  return check("maxOutstandingSends", queues.maxOutstandingSends) ??
    check("maxOutstandingReceives", queues.maxOutstandingReceives)
}

/** io_uring's provided-buffer rings hold at most 2^15 entries: the most slots a receive ring has. */
export const MAX_RING_SLOTS = 32768

/** A receive-ring option, if given, is an integer in 1..max; else the typed error that names it. */
export const checkRingOption = (
  operation: string,
  name: string,
  value: number | undefined,
  max: number
): RioError.WSAEINVAL | undefined =>
  value === undefined || (Number.isSafeInteger(value) && value >= 1 && value <= max)
    ? undefined
    : invalid(operation, `receiveRing.${name} ${String(value)} is not an integer in 1..${max}.`)

/** Addresses drivers reported as datagram senders: valid by construction. */
export const senders = new WeakSet<SocketAddress>()

/** `host:port`, `[host]:port` for IPv6, a Unix socket's path (`unnamed` for none): for messages and labels. */
export const show = (address: SocketAddress | UnixAddress) =>
  "path" in address
    ? address.path === "" ? "unnamed" : address.path
    : address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`

/** A Unix socket's `sun_path` holds 108 bytes, its terminating NUL among them. */
export const MAX_PATH_BYTES = 107

/** A Unix domain socket's path from an untrusted value: a string of 1..107 bytes of UTF-8 with no NUL. */
export const parsePath = (operation: string, path: unknown): string | RioError.WSAEINVAL => {
  if (typeof path !== "string" || path.length === 0) {
    return invalid(operation, `path ${JSON.stringify(path)} is not a file system path (a non-empty string).`)
  }
  if (path.includes("\0")) {
    return invalid(
      operation,
      `path ${JSON.stringify(path)} holds a NUL byte: Linux's abstract socket names are not supported, give a path.`
    )
  }
  const bytes = Buffer.byteLength(path, "utf8")
  if (bytes > MAX_PATH_BYTES) {
    return invalid(
      operation,
      `path is ${bytes} bytes of UTF-8; a Unix socket's path holds at most ${MAX_PATH_BYTES} (sun_path is 108 ` +
        "bytes with its NUL). Use a shorter path, or a relative one."
    )
  }
  return path
}
