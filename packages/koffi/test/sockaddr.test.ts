/**
 * The peer cache the hot path decodes senders with: the same peer gives the same frozen
 * address object every time, different peers never share one, and peers whose keys hash
 * alike (more peers than table entries) still decode to their own address and port.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cache, Codec } from "../src/internal/sockaddr.js"

const codec = new Codec({ inet: 2, inet6: 10 })
const view = new DataView(new ArrayBuffer(28))

/** `host:port` written as a sockaddr and read back through `cache`. */
const decode = (cache: Cache, host: string, port: number) => {
  codec.write(view, 0, { host, port })
  return cache.decode(view, 0)
}

describe("Sockaddr.Cache", () => {
  it("gives a known IPv4 peer the same frozen address", () => {
    const cache = new Cache(codec)
    const first = decode(cache, "127.0.0.1", 40000)
    expect(first).toEqual({ host: "127.0.0.1", port: 40000 })
    expect(Object.isFrozen(first)).toBe(true)
    expect(decode(cache, "127.0.0.1", 40000)).toBe(first)
    expect(decode(cache, "127.0.0.1", 40001)).toEqual({ host: "127.0.0.1", port: 40001 })
    expect(decode(cache, "127.0.0.2", 40000)).toEqual({ host: "127.0.0.2", port: 40000 })
  })

  it("decodes every one of more peers than it keeps, each as itself", () => {
    const cache = new Cache(codec)
    // 3 × 4096 peers: entries are shared and taken over, never confused.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3 * 4096; i++) {
        const host = `10.${(i >> 8) & 0xff}.${i & 0xff}.${1 + (i % 7)}`
        const port = 1 + ((i * 7919) % 65535)
        expect(decode(cache, host, port)).toEqual({ host, port })
      }
    }
    expect(decode(cache, "255.255.255.255", 65535)).toEqual({ host: "255.255.255.255", port: 65535 })
    expect(decode(cache, "0.0.0.0", 0)).toEqual({ host: "0.0.0.0", port: 0 })
  })

  it("keeps an IPv4-mapped peer apart from the same IPv4 peer", () => {
    const cache = new Cache(codec)
    const plain = decode(cache, "192.0.2.1", 53)
    const mapped = decode(cache, "::ffff:192.0.2.1", 53)
    expect(plain).toEqual({ host: "192.0.2.1", port: 53 })
    expect(mapped.port).toBe(53)
    expect(mapped.host).not.toBe(plain.host)
    expect(decode(cache, "::ffff:192.0.2.1", 53)).toBe(mapped)
    expect(decode(cache, "2001:db8::1", 443)).toEqual({ host: "2001:db8::1", port: 443 })
  })
})
