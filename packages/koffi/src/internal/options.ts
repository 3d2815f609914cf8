/**
 * Socket options on both platforms: each platform has a table of its levels and numbers (an
 * IPv6 socket takes other ones for the IP-level options), and a multicast membership request
 * has the same layout on Linux and Windows. Values are the core's integers (see
 * `Driver.OptionName`), passed as a 4-byte int — what both systems take for every option here.
 *
 * @internal
 */
import type { NetDriverError, OptionName, OptionSettings } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import { isIPv4 } from "node:net"
import { parseIPv6 } from "./sockaddr.js"

/** An option's level and number. */
export interface OptionNumbers {
  readonly level: number
  readonly name: number
}

/**
 * A platform's options: for IPv4 sockets and for IPv6 ones. An option missing from the table
 * is not the platform's (`WSAENOPROTOOPT`); one missing for a family only means nothing to
 * that family (IPV6_V6ONLY on an IPv4 socket), which is set as a no-op and reads as 0.
 */
export type OptionTable = {
  readonly [K in OptionName]?: { readonly ipv4?: OptionNumbers; readonly ipv6?: OptionNumbers }
}

/** The same numbers for both families. */
export const both = (level: number, name: number) => ({ ipv4: { level, name }, ipv6: { level, name } })

/** The numbers of `name` for a socket of this family; `undefined` means "no such option here". */
export const numbersOf = (
  table: OptionTable,
  name: OptionName,
  ipv6: boolean
): OptionNumbers | "not for this family" | undefined => {
  const entry = table[name]
  if (entry === undefined) return undefined
  return (ipv6 ? entry.ipv6 : entry.ipv4) ?? "not for this family"
}

/** Applies `settings` in order with `set`; the first failure stops and is returned. */
export const applyInOrder = (
  settings: OptionSettings,
  set: (name: OptionName, value: number) => NetDriverError | undefined
): NetDriverError | undefined => {
  for (const [name, value] of settings) {
    const error = set(name, value)
    if (error !== undefined) return error
  }
  return undefined
}

/** What a platform answers for an option it does not have. */
export const noSuchOption = (name: OptionName, platform: string, operation: string) =>
  new RioError.WSAENOPROTOOPT({
    operation,
    message: `${operation}: ${platform} has no socket option for ${name}` +
      (name === "reusePort"
        ? " (SO_REUSEPORT is Linux's): run one listener per port, or several processes on Linux."
        : ".")
  })

/** Whether a socket bound or connected to `host` is IPv6. */
export const isIPv6Host = (host: string): boolean => !isIPv4(host)

/**
 * `ip_mreq` (IPv4: the group, then the interface's address, 0.0.0.0 for the system's choice)
 * or `ipv6_mreq` (the group, then interface index 0), as IP(V6)_ADD_MEMBERSHIP takes them.
 */
export const membershipRequest = (group: string, iface: string | undefined): Uint8Array => {
  if (isIPv4(group)) {
    const request = new Uint8Array(8)
    request.set(group.split(".").map(Number), 0)
    if (iface !== undefined) request.set(iface.split(".").map(Number), 4)
    return request
  }
  const request = new Uint8Array(20)
  const view = new DataView(request.buffer)
  const groups = parseIPv6(group)
  for (let i = 0; i < 8; i++) view.setUint16(i * 2, groups[i]!, false)
  return request
}
