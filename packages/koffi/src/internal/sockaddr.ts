/**
 * `struct sockaddr_in` / `sockaddr_in6` from and to the core's `{ host, port }`, written
 * into caller-provided memory. Linux and Windows x64 share the layouts; only the family
 * values differ (AF_INET6 is 10 on Linux, 23 on Windows), so each backend makes a codec
 * with its own.
 */
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import { isIPv4 } from "node:net"

/** The address-family constants of a platform. */
export interface Families {
  readonly inet: number
  readonly inet6: number
}

/** Large enough for either family. */
export const SOCKADDR_BYTES = 28

/** The eight 16-bit groups of a numeric IPv6 address. */
export const parseIPv6 = (host: string): Array<number> => {
  // An embedded IPv4 tail ("::ffff:1.2.3.4") becomes two groups.
  let text = host
  const dot = text.lastIndexOf(":")
  const tail = text.slice(dot + 1)
  const extra: Array<number> = []
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split(".").map(Number) as [number, number, number, number]
    extra.push((a << 8) | b, (c << 8) | d)
    text = text.slice(0, dot + 1) + (text.endsWith("::" + tail) ? "" : "0")
    if (text.endsWith(":0")) text = text.slice(0, -2)
  }
  const [left, right] = text.includes("::") ? text.split("::") as [string, string] : [text, undefined]
  const groups = (part: string | undefined) => part === undefined || part === "" ? [] : part.split(":")
  const head = groups(left).map((g) => parseInt(g, 16))
  const rest = groups(right).map((g) => parseInt(g, 16))
  const missing = 8 - head.length - rest.length - extra.length
  return [...head, ...Array.from({ length: right === undefined ? 0 : missing }, () => 0), ...rest, ...extra]
}

/** Two 16-bit groups as a dotted IPv4 address. */
const dotted = (high: number, low: number): string => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`

/** Reads and writes the sockaddrs of one platform. */
export class Codec {
  constructor(readonly families: Families) {}

  /** Writes `address` at `view`'s offset `at`; returns the sockaddr's length. */
  write(view: DataView, at: number, address: SocketAddress): number {
    if (isIPv4(address.host)) {
      view.setUint16(at, this.families.inet, true)
      view.setUint16(at + 2, address.port, false)
      const parts = address.host.split(".")
      for (let i = 0; i < 4; i++) view.setUint8(at + 4 + i, Number(parts[i]))
      view.setBigUint64(at + 8, 0n)
      return 16
    }
    view.setUint16(at, this.families.inet6, true)
    view.setUint16(at + 2, address.port, false)
    view.setUint32(at + 4, 0)
    const groups = parseIPv6(address.host)
    for (let i = 0; i < 8; i++) view.setUint16(at + 8 + i * 2, groups[i] ?? 0, false)
    view.setUint32(at + 24, 0, true)
    return 28
  }

  /** The family of `host`, for `socket(2)`. */
  family(host: string): number {
    return isIPv4(host) ? this.families.inet : this.families.inet6
  }

  /** Reads the sockaddr at `view`'s offset `at`. */
  read(view: DataView, at: number): SocketAddress {
    const port = view.getUint16(at + 2, false)
    if (view.getUint16(at, true) === this.families.inet) {
      return {
        host: `${view.getUint8(at + 4)}.${view.getUint8(at + 5)}.${view.getUint8(at + 6)}.${view.getUint8(at + 7)}`,
        port
      }
    }
    const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(at + 8 + i * 2, false))
    // An IPv4 peer of a dual-stack socket arrives IPv4-mapped: shown "::ffff:127.0.0.1", as
    // inet_ntop (and so Node) shows it on every platform, so that hosts compare equal.
    if (groups[5] === 0xffff && groups.slice(0, 5).every((g) => g === 0)) {
      return { host: `::ffff:${dotted(groups[6]!, groups[7]!)}`, port }
    }
    // RFC 5952: the longest run of two or more zero groups becomes "::".
    let best = -1
    let bestLength = 1
    for (let i = 0; i < 8;) {
      let j = i
      while (j < 8 && groups[j] === 0) j++
      if (j - i > bestLength) {
        best = i
        bestLength = j - i
      }
      i = j === i ? i + 1 : j
    }
    const hex = groups.map((g) => g.toString(16))
    const host = best < 0
      ? hex.join(":")
      : `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`
    return { host, port }
  }
}

/** Entries of a peer table: a power of two. */
const PEER_SLOTS = 4096
const PEER_SHIFT = 32 - Math.log2(PEER_SLOTS)

/** Whether the sockaddr_in6 at `at` holds an IPv4-mapped address (::ffff:a.b.c.d). */
const isMapped = (view: DataView, at: number): boolean =>
  view.getUint32(at + 8) === 0 && view.getUint32(at + 12) === 0 && view.getUint32(at + 16) === 0xffff

/**
 * Known IPv4 peers, by address and port: a direct-mapped table whose keys live in typed
 * arrays, so that finding a peer allocates nothing (a Map keyed by address and port would
 * box its 48-bit key on every lookup). Two peers that hash alike take turns in their entry.
 */
class PeerTable {
  private readonly ips = new Uint32Array(PEER_SLOTS)
  // -1: empty (no port is).
  private readonly ports = new Int32Array(PEER_SLOTS).fill(-1)
  private readonly addresses: Array<SocketAddress | undefined> = new Array(PEER_SLOTS).fill(undefined)

  constructor(private readonly codec: Codec) {}

  /** The frozen address of the sockaddr at `at`, whose IPv4 address is at `ip`. */
  find(view: DataView, at: number, ip: number): SocketAddress {
    const address = view.getUint32(ip, false)
    const port = view.getUint16(at + 2, false)
    const slot = Math.imul(address ^ Math.imul(port, 0x9e3779b1), 0x85ebca6b) >>> PEER_SHIFT
    if (this.ports[slot] === port && this.ips[slot] === address) return this.addresses[slot]!
    const peer = Object.freeze(this.codec.read(view, at))
    this.ips[slot] = address
    this.ports[slot] = port
    this.addresses[slot] = peer
    return peer
  }
}

/**
 * Peers as the hot path sees them: a datagram from a known IPv4 peer gets the same frozen
 * address object every time (no string is built per datagram), and an address object is
 * encoded once, however often it is sent to. IPv4 peers of a dual-stack socket arrive
 * IPv4-mapped and are kept the same way, apart (their host reads differently).
 */
export class Cache {
  private readonly peers: PeerTable
  private readonly mappedPeers: PeerTable
  private readonly encoded = new WeakMap<SocketAddress, Uint8Array>()

  constructor(private readonly codec: Codec) {
    this.peers = new PeerTable(codec)
    this.mappedPeers = new PeerTable(codec)
  }

  decode(view: DataView, at: number): SocketAddress {
    const family = view.getUint16(at, true)
    if (family === this.codec.families.inet) return this.peers.find(view, at, at + 4)
    if (family === this.codec.families.inet6 && isMapped(view, at)) return this.mappedPeers.find(view, at, at + 20)
    return this.codec.read(view, at)
  }

  encode(address: SocketAddress): Uint8Array {
    let bytes = this.encoded.get(address)
    if (bytes === undefined) {
      const buffer = new ArrayBuffer(SOCKADDR_BYTES)
      bytes = new Uint8Array(buffer, 0, this.codec.write(new DataView(buffer), 0, address))
      // Only frozen addresses can be trusted not to change under the cached bytes.
      if (Object.isFrozen(address)) this.encoded.set(address, bytes)
    }
    return bytes
  }
}
