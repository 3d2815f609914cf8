/**
 * Addresses and ports of the double's loopback-only network: which hosts exist (the loopback
 * of each family and its wildcard), how IPv4 looks to a dual-stack IPv6 socket, and one
 * protocol's port table — binding a port asked for, handing out ephemeral ports for port 0,
 * and who is bound where.
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import type { SocketAddress, UnixAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"

export type Family = "v4" | "v6"

const firstEphemeralPort = 49152
const lastPort = 65535
const ephemeralSpan = lastPort - firstEphemeralPort + 1

/** The one host of each family that can be reached. */
export const loopback: Record<Family, string> = { v4: "127.0.0.1", v6: "::1" }

/** The IPv4 loopback as an IPv6 socket sees it: IPv4-mapped, as Linux, Windows and Node show it. */
export const mappedLoopback = "::ffff:127.0.0.1"

/** The family of a host of this network (the loopback, or the wildcard, which means it); undefined for others. */
export const familyOf = (host: string): Family | undefined =>
  host === "127.0.0.1" || host === "0.0.0.0" ? "v4" : host === "::1" || host === "::" ? "v6" : undefined

/**
 * The family that packets to `host` travel in: that of {@link familyOf}, and IPv4 for the
 * IPv4-mapped loopback, which an IPv6 socket reaches only when it is dual-stack.
 */
export const routeOf = (host: string): Family | undefined => host === mappedLoopback ? "v4" : familyOf(host)

/** The loopback of `family` as a socket of family `viewer` sees it. */
export const seenBy = (family: Family, viewer: Family): string =>
  family === "v4" && viewer === "v6" ? mappedLoopback : loopback[family]

/** An address as error messages show it (a Unix socket's: its path, or `unnamed`). */
export const show = (address: SocketAddress | UnixAddress): string =>
  "path" in address
    ? address.path === "" ? "unnamed" : address.path
    : address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`

const familyName = (family: Family): string => family === "v4" ? "IPv4" : "IPv6"

/** A port a bind found free: the socket that asked takes it with {@link PortTable.hold}. */
export interface Bound {
  readonly family: Family
  readonly port: number
  /**
   * Bound to "::": the socket takes IPv4 peers too, so it holds the port in both families —
   * Linux's default (bindv6only=0), which the real backends set everywhere, as Node does.
   */
  readonly dualStack: boolean
  /**
   * The port may be shared with other sockets that asked for it too: SO_REUSEPORT, or, for
   * UDP, SO_REUSEADDR (how Node's multicast receivers share a port on Linux).
   */
  readonly shareable: boolean
}

/** How a socket binds: IPV6_V6ONLY, SO_REUSEPORT and SO_REUSEADDR as the user set them. */
export interface BindFlags {
  readonly ipv6Only?: boolean
  readonly reusePort?: boolean
  readonly reuseAddress?: boolean
}

/** The sockets bound to one port of one family: one, or several that all asked for SO_REUSEPORT. */
interface Holders<A> {
  readonly shareable: boolean
  readonly members: Array<A>
  /** Round robin among the members, for callers with no key of their own. */
  turn: number
}

const families = (bound: Bound): ReadonlyArray<Family> => bound.dualStack ? ["v6", "v4"] : [bound.family]

/** The ports of one protocol (UDP and TCP ports are apart, as in a kernel), each family apart. */
export class PortTable<A> {
  private readonly holders = { v4: new Map<number, Holders<A>>(), v6: new Map<number, Holders<A>>() }
  /** Ports held in both families by one dual-stack socket, for the messages. */
  private readonly dualStack = new Set<number>()
  // Rotating cursors, like a kernel's: a closed port is not handed out again at once.
  private readonly cursors = { v4: 0, v6: 0 }

  constructor(private readonly protocol: "udp" | "tcp") {}

  /**
   * Who holds `port` in `family`, if anyone (a dual-stack socket holds it in both). Of sockets
   * sharing it (SO_REUSEPORT), the one `key` picks — the same one for the same key, as a
   * kernel hashes a flow — or, without a key, each in turn.
   */
  get(family: Family, port: number, key?: number): A | undefined {
    const holders = this.holders[family].get(port)
    if (holders === undefined) return undefined
    const { members } = holders
    return members[(key ?? holders.turn++) % members.length]
  }

  /** Every socket holding `port` in `family` (a broadcast or multicast datagram reaches them all). */
  all(family: Family, port: number): ReadonlyArray<A> {
    return this.holders[family].get(port)?.members ?? []
  }

  hold(bound: Bound, holder: A): void {
    for (const family of families(bound)) {
      const holders = this.holders[family].get(bound.port)
      if (holders === undefined) {
        this.holders[family].set(bound.port, { shareable: bound.shareable, members: [holder], turn: 0 })
      } else holders.members.push(holder)
    }
    if (bound.dualStack) this.dualStack.add(bound.port)
  }

  release(bound: Bound, holder: A): void {
    for (const family of families(bound)) {
      const holders = this.holders[family].get(bound.port)
      if (holders === undefined) continue
      const index = holders.members.indexOf(holder)
      if (index >= 0) holders.members.splice(index, 1)
      if (holders.members.length === 0) this.holders[family].delete(bound.port)
    }
    if (bound.dualStack) this.dualStack.delete(bound.port)
  }

  /** The port `address` asks for if it is free, or the next free ephemeral port for port 0. */
  bind(address: SocketAddress, call: string, flags: BindFlags = {}): Bound | NetDriverError {
    const family = familyOf(address.host)
    if (family === undefined) {
      return new RioError.WSAEADDRNOTAVAIL({
        operation: call,
        message: `Cannot bind ${show(address)}: the simulated network is loopback-only. ` +
          `Bind "127.0.0.1", "::1", "0.0.0.0" or "::".`
      })
    }
    const dualStack = address.host === "::" && flags.ipv6Only !== true
    const shareable = flags.reusePort === true || (this.protocol === "udp" && flags.reuseAddress === true)
    const wanted = families({ family, port: 0, dualStack, shareable })
    const free = (port: number) => wanted.every((f) => !this.holders[f].has(port))
    // A port shared by SO_REUSEPORT (UDP: or SO_REUSEADDR) takes another socket that asks too, as on Linux.
    const sharing = (f: Family, port: number) => shareable && this.holders[f].get(port)?.shareable === true
    if (address.port !== 0) {
      const taken = wanted.find((f) => this.holders[f].has(address.port) && !sharing(f, address.port))
      if (taken !== undefined) {
        const why = this.dualStack.has(address.port)
          ? ` by a socket on "::", which is dual-stack and holds it for IPv4 too`
          : dualStack
          ? ` by another socket, and a socket on "::" is dual-stack: it needs the port in IPv4 and IPv6`
          : " by another socket"
        return new RioError.WSAEADDRINUSE({
          operation: call,
          message: `${this.protocol.toUpperCase()} port ${address.port} (${familyName(taken)}) is already bound` +
            `${why}. Close it first, or bind port 0 for a free port.`
        })
      }
      return { family, port: address.port, dualStack, shareable }
    }
    for (let i = 0; i < ephemeralSpan; i++) {
      const port = firstEphemeralPort + (this.cursors[family] + i) % ephemeralSpan
      if (free(port)) {
        this.cursors[family] = (port - firstEphemeralPort + 1) % ephemeralSpan
        return { family, port, dualStack, shareable }
      }
    }
    return new RioError.WSAEADDRINUSE({
      operation: call,
      message: `All ${ephemeralSpan} ephemeral ${this.protocol.toUpperCase()} ports are in use. ` +
        "Close sockets you no longer need."
    })
  }
}
