/**
 * Addresses and ports of the double's loopback-only network: which hosts exist (the loopback
 * of each family and its wildcard), and one protocol's port table — binding a port asked
 * for, handing out ephemeral ports for port 0, and who is bound where.
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"

export type Family = "v4" | "v6"

const firstEphemeralPort = 49152
const lastPort = 65535
const ephemeralSpan = lastPort - firstEphemeralPort + 1

/** The one host of each family that can be reached. */
export const loopback: Record<Family, string> = { v4: "127.0.0.1", v6: "::1" }

/** The family of a host of this network (the loopback, or the wildcard, which means it); undefined for others. */
export const familyOf = (host: string): Family | undefined =>
  host === "127.0.0.1" || host === "0.0.0.0" ? "v4" : host === "::1" || host === "::" ? "v6" : undefined

/** An address as error messages show it. */
export const show = (address: SocketAddress): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`

/** A port a bind found free: the socket that asked takes it with {@link PortTable.hold}. */
export interface Bound {
  readonly family: Family
  readonly port: number
}

/** The ports of one protocol (UDP and TCP ports are apart, as in a kernel), each family apart. */
export class PortTable<A> {
  private readonly holders = { v4: new Map<number, A>(), v6: new Map<number, A>() }
  // Rotating cursors, like a kernel's: a closed port is not handed out again at once.
  private readonly cursors = { v4: 0, v6: 0 }

  constructor(private readonly protocol: "udp" | "tcp") {}

  /** Who holds `port`, if anyone. */
  get(family: Family, port: number): A | undefined {
    return this.holders[family].get(port)
  }

  hold(bound: Bound, holder: A): void {
    this.holders[bound.family].set(bound.port, holder)
  }

  release(family: Family, port: number): void {
    this.holders[family].delete(port)
  }

  /** The port `address` asks for if it is free, or the next free ephemeral port for port 0. */
  bind(address: SocketAddress, call: string): Bound | NetDriverError {
    const family = familyOf(address.host)
    if (family === undefined) {
      return new RioError.WSAEADDRNOTAVAIL({
        operation: call,
        message: `Cannot bind ${show(address)}: the simulated network is loopback-only. ` +
          `Bind "127.0.0.1", "::1", "0.0.0.0" or "::".`
      })
    }
    const table = this.holders[family]
    if (address.port !== 0) {
      if (table.has(address.port)) {
        return new RioError.WSAEADDRINUSE({
          operation: call,
          message: `${this.protocol.toUpperCase()} port ${address.port} (${family === "v4" ? "IPv4" : "IPv6"}) is ` +
            "already bound by another socket. Close it first, or bind port 0 for a free port."
        })
      }
      return { family, port: address.port }
    }
    for (let i = 0; i < ephemeralSpan; i++) {
      const port = firstEphemeralPort + (this.cursors[family] + i) % ephemeralSpan
      if (!table.has(port)) {
        this.cursors[family] = (port - firstEphemeralPort + 1) % ephemeralSpan
        return { family, port }
      }
    }
    return new RioError.WSAEADDRINUSE({
      operation: call,
      message: `All ${ephemeralSpan} ephemeral ${this.protocol.toUpperCase()} ports are in use. ` +
        "Close sockets you no longer need."
    })
  }
}
