/**
 * Socket options on Linux: the levels and numbers of `<sys/socket.h>`, `<netinet/in.h>`,
 * `<netinet/tcp.h>` and `<linux/in6.h>` (the same on x86_64 and aarch64), set and read with
 * setsockopt / getsockopt.
 *
 * @internal
 */
import type { NetDriverError, OptionName, OptionSettings } from "@effect-rio/core/Driver"
import type { OptionTable } from "../options.js"
import { applyInOrder, both, membershipRequest, noSuchOption, numbersOf } from "../options.js"
import { fromErrno } from "./errors.js"
import * as Libc from "./libc.js"

const SOL_SOCKET = Libc.SOL_SOCKET
const IPPROTO_IP = 0
const IPPROTO_TCP = Libc.IPPROTO_TCP
const IPPROTO_IPV6 = Libc.IPPROTO_IPV6

const TABLE: OptionTable = {
  reuseAddress: both(SOL_SOCKET, Libc.SO_REUSEADDR),
  sendBufferSize: both(SOL_SOCKET, 7), // SO_SNDBUF
  receiveBufferSize: both(SOL_SOCKET, 8), // SO_RCVBUF
  keepAlive: both(SOL_SOCKET, 9), // SO_KEEPALIVE
  broadcast: both(SOL_SOCKET, 6), // SO_BROADCAST
  reusePort: both(SOL_SOCKET, 15), // SO_REUSEPORT
  noDelay: both(IPPROTO_TCP, Libc.TCP_NODELAY),
  keepAliveInitialDelay: both(IPPROTO_TCP, 4), // TCP_KEEPIDLE
  ipv6Only: { ipv6: { level: IPPROTO_IPV6, name: Libc.IPV6_V6ONLY } },
  // IP_TTL, IP_MULTICAST_TTL, IP_MULTICAST_LOOP; IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP
  ttl: { ipv4: { level: IPPROTO_IP, name: 2 }, ipv6: { level: IPPROTO_IPV6, name: 16 } },
  multicastTTL: { ipv4: { level: IPPROTO_IP, name: 33 }, ipv6: { level: IPPROTO_IPV6, name: 18 } },
  multicastLoopback: { ipv4: { level: IPPROTO_IP, name: 34 }, ipv6: { level: IPPROTO_IPV6, name: 19 } }
}

// IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP, IPV6_ADD_MEMBERSHIP / IPV6_DROP_MEMBERSHIP
const MEMBERSHIP = { ipv4: [IPPROTO_IP, 35, 36], ipv6: [IPPROTO_IPV6, 20, 21] } as const

/** The options of one libc's sockets. */
export class Options {
  constructor(private readonly libc: Libc.Libc) {}

  set(fd: number, ipv6: boolean, name: OptionName, value: number, operation: string): NetDriverError | undefined {
    const numbers = numbersOf(TABLE, name, ipv6)
    if (numbers === undefined) return noSuchOption(name, "Linux", operation)
    if (numbers === "not for this family") return undefined
    if (this.libc.setsockoptInt(fd, numbers.level, numbers.name, value) === 0) return undefined
    return fromErrno(this.libc.errno(), `${operation} (setsockopt ${name} = ${value})`)
  }

  /** Every setting in order; the first failure stops and is returned. */
  apply(fd: number, ipv6: boolean, settings: OptionSettings, operation: string): NetDriverError | undefined {
    return applyInOrder(settings, (name, value) => this.set(fd, ipv6, name, value, operation))
  }

  get(fd: number, ipv6: boolean, name: OptionName): number | NetDriverError {
    const numbers = numbersOf(TABLE, name, ipv6)
    if (numbers === undefined) return noSuchOption(name, "Linux", "option")
    if (numbers === "not for this family") return 0
    const value = this.libc.getsockoptInt(fd, numbers.level, numbers.name)
    return value < 0 ? fromErrno(this.libc.errno(), `option (getsockopt ${name})`) : value
  }

  membership(fd: number, ipv6: boolean, group: string, iface: string | undefined, join: boolean) {
    const [level, add, drop] = ipv6 ? MEMBERSHIP.ipv6 : MEMBERSHIP.ipv4
    if (this.libc.setsockopt(fd, level, join ? add : drop, membershipRequest(group, iface)) === 0) return undefined
    return fromErrno(this.libc.errno(), `${join ? "addMembership" : "dropMembership"} (${group})`)
  }
}
