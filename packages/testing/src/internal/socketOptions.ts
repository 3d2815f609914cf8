/**
 * The double's socket options: each socket's values, starting from Linux's defaults and
 * changed by what the core sets. What the network can simulate reads them where it acts
 * (SO_REUSEPORT and IPV6_V6ONLY where a socket binds, SO_BROADCAST and IP_MULTICAST_LOOP
 * where a datagram leaves); the rest is recorded and read back as set (Linux would double a
 * buffer size; the double keeps what was asked).
 */
import type { NetDriverError, OptionName, OptionSettings } from "@effect-rio/core/Driver"
import type { SocketAddress, UnixAddress } from "@effect-rio/core/RegisteredSocket"
import type { BindFlags } from "./ports.js"

type Kind = "udp" | "tcp" | "unix"

/** Linux's defaults (a 6.x kernel's sysctls); the buffer sizes differ by protocol. */
const COMMON: Readonly<Record<OptionName, number>> = {
  receiveBufferSize: 212992,
  sendBufferSize: 212992,
  reuseAddress: 0,
  reusePort: 0,
  ipv6Only: 0,
  noDelay: 0,
  keepAlive: 0,
  keepAliveInitialDelay: 7200,
  broadcast: 0,
  ttl: 64,
  multicastTTL: 1,
  multicastLoopback: 1
}

const DEFAULTS: Record<Kind, Readonly<Record<OptionName, number>>> = {
  udp: COMMON,
  tcp: { ...COMMON, receiveBufferSize: 131072, sendBufferSize: 16384 },
  unix: COMMON
}

/** What `settings` say of how a socket binds, before it has a handle. */
export const bindFlags = (settings: OptionSettings): BindFlags => {
  let ipv6Only = false
  let reusePort = false
  let reuseAddress = false
  for (const [name, value] of settings) {
    if (name === "ipv6Only") ipv6Only = value !== 0
    if (name === "reusePort") reusePort = value !== 0
    if (name === "reuseAddress") reuseAddress = value !== 0
  }
  return { ipv6Only, reusePort, reuseAddress }
}

export class SocketOptions {
  private readonly values = new Map<number, Map<OptionName, number>>()
  private readonly kinds = new Map<number, Kind>()
  private readonly ipv4 = new Set<number>()

  /** A new socket's options: the defaults, then `settings` in order. */
  open(handle: number, kind: Kind, local: SocketAddress | UnixAddress, settings: OptionSettings): void {
    this.kinds.set(handle, kind)
    this.values.set(handle, new Map())
    if ("host" in local && !local.host.includes(":")) this.ipv4.add(handle)
    for (const [name, value] of settings) this.set(handle, name, value)
  }

  close(handle: number): void {
    this.values.delete(handle)
    this.kinds.delete(handle)
    this.ipv4.delete(handle)
  }

  set(handle: number, name: OptionName, value: number): NetDriverError | undefined {
    // IPV6_V6ONLY means nothing to an IPv4 socket: set as a no-op, read as 0, as the drivers do.
    if (name === "ipv6Only" && this.ipv4.has(handle)) return undefined
    this.values.get(handle)?.set(name, value)
    return undefined
  }

  get(handle: number, name: OptionName): number {
    return this.values.get(handle)?.get(name) ?? DEFAULTS[this.kinds.get(handle) ?? "tcp"][name]
  }
}
