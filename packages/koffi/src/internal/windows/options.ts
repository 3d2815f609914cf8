/**
 * Socket options on Windows: the levels and numbers of winsock2.h, ws2ipdef.h and mstcpip.h
 * (pinned against mingw-w64's headers by `test/wine/layout.c`), set and read with setsockopt /
 * getsockopt. Windows has no SO_REUSEPORT: asking for it is `WSAENOPROTOOPT`. Its
 * SO_REUSEADDR lets a second socket take a port in use, so listeners do not set it unless asked.
 *
 * @internal
 */
import type { NetDriverError, OptionName, OptionSettings } from "@effect-rio/core/Driver"
import type { OptionTable } from "../options.js"
import { applyInOrder, both, membershipRequest, noSuchOption, numbersOf } from "../options.js"
import { lastError } from "./errors.js"
import type { Native } from "./winsock.js"

/** The numbers, by their header names, that `layout.test.ts` compares with mingw-w64's. */
export const Constants = {
  SOL_SOCKET: 0xFFFF,
  SO_REUSEADDR: 0x0004,
  SO_KEEPALIVE: 0x0008,
  SO_BROADCAST: 0x0020,
  SO_SNDBUF: 0x1001,
  SO_RCVBUF: 0x1002,
  IPPROTO_IP: 0,
  IPPROTO_TCP: 6,
  IPPROTO_IPV6: 41,
  TCP_NODELAY: 1,
  TCP_KEEPALIVE: 3,
  IP_TTL: 4,
  IP_MULTICAST_TTL: 10,
  IP_MULTICAST_LOOP: 11,
  IP_ADD_MEMBERSHIP: 12,
  IP_DROP_MEMBERSHIP: 13,
  IPV6_UNICAST_HOPS: 4,
  IPV6_MULTICAST_HOPS: 10,
  IPV6_MULTICAST_LOOP: 11,
  IPV6_ADD_MEMBERSHIP: 12,
  IPV6_DROP_MEMBERSHIP: 13,
  IPV6_V6ONLY: 27
} as const

const C = Constants

const TABLE: OptionTable = {
  reuseAddress: both(C.SOL_SOCKET, C.SO_REUSEADDR),
  sendBufferSize: both(C.SOL_SOCKET, C.SO_SNDBUF),
  receiveBufferSize: both(C.SOL_SOCKET, C.SO_RCVBUF),
  keepAlive: both(C.SOL_SOCKET, C.SO_KEEPALIVE),
  broadcast: both(C.SOL_SOCKET, C.SO_BROADCAST),
  noDelay: both(C.IPPROTO_TCP, C.TCP_NODELAY),
  // TCP_KEEPALIVE (alias TCP_KEEPIDLE): seconds before the first probe, Windows 10 1709 and later.
  keepAliveInitialDelay: both(C.IPPROTO_TCP, C.TCP_KEEPALIVE),
  ipv6Only: { ipv6: { level: C.IPPROTO_IPV6, name: C.IPV6_V6ONLY } },
  ttl: { ipv4: { level: C.IPPROTO_IP, name: C.IP_TTL }, ipv6: { level: C.IPPROTO_IPV6, name: C.IPV6_UNICAST_HOPS } },
  multicastTTL: {
    ipv4: { level: C.IPPROTO_IP, name: C.IP_MULTICAST_TTL },
    ipv6: { level: C.IPPROTO_IPV6, name: C.IPV6_MULTICAST_HOPS }
  },
  multicastLoopback: {
    ipv4: { level: C.IPPROTO_IP, name: C.IP_MULTICAST_LOOP },
    ipv6: { level: C.IPPROTO_IPV6, name: C.IPV6_MULTICAST_LOOP }
  }
}

/** The options of one Winsock's sockets, with scratch memory for their values. */
export class Options {
  private readonly value = new Int32Array(1)
  private readonly length = new Int32Array(1)

  constructor(private readonly ws: Native) {}

  set(socket: bigint, ipv6: boolean, name: OptionName, value: number, operation: string): NetDriverError | undefined {
    const numbers = numbersOf(TABLE, name, ipv6)
    if (numbers === undefined) return noSuchOption(name, "Windows", operation)
    if (numbers === "not for this family") return undefined
    this.value[0] = value
    if (this.ws.setsockopt(socket, numbers.level, numbers.name, this.value, 4) === 0) return undefined
    return lastError(this.ws, `${operation} (setsockopt ${name} = ${value})`)
  }

  /** Every setting in order; the first failure stops and is returned. */
  apply(socket: bigint, ipv6: boolean, settings: OptionSettings, operation: string): NetDriverError | undefined {
    return applyInOrder(settings, (name, value) => this.set(socket, ipv6, name, value, operation))
  }

  get(socket: bigint, ipv6: boolean, name: OptionName): number | NetDriverError {
    const numbers = numbersOf(TABLE, name, ipv6)
    if (numbers === undefined) return noSuchOption(name, "Windows", "option")
    if (numbers === "not for this family") return 0
    this.value[0] = 0
    this.length[0] = 4
    if (this.ws.getsockopt(socket, numbers.level, numbers.name, this.value, this.length) !== 0) {
      return lastError(this.ws, `option (getsockopt ${name})`)
    }
    // A BOOL option may come back as one byte (SO_KEEPALIVE, TCP_NODELAY): the rest stays 0.
    return this.value[0]!
  }

  membership(socket: bigint, ipv6: boolean, group: string, iface: string | undefined, join: boolean) {
    const [level, add, drop] = ipv6
      ? [C.IPPROTO_IPV6, C.IPV6_ADD_MEMBERSHIP, C.IPV6_DROP_MEMBERSHIP]
      : [C.IPPROTO_IP, C.IP_ADD_MEMBERSHIP, C.IP_DROP_MEMBERSHIP]
    const request = membershipRequest(group, iface)
    if (this.ws.setsockopt(socket, level, join ? add : drop, request, request.byteLength) === 0) return undefined
    return lastError(this.ws, `${join ? "addMembership" : "dropMembership"} (${group})`)
  }
}
