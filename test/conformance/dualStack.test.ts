/**
 * Dual-stack conformance: a socket on the IPv6 wildcard "::" also serves IPv4, as Node's
 * `server.listen({ host: "::" })` does, on every backend with sockets. An IPv4 peer shows
 * IPv4-mapped ("::ffff:127.0.0.1") to the IPv6 socket, as Node shows it; the port is held in
 * both families, so an IPv4 wildcard bind of it is WSAEADDRINUSE.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { describeSocketBackends } from "./describeBackends.js"
import { connectedPair, cuts, echoStream, readToEnd, source } from "./streams.js"

const mapped = "::ffff:127.0.0.1"

/** A datagram that does not arrive fails the case at once, naming what was awaited (no 60 s hang). */
const arrives = <A, E, R>(what: string, receive: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(receive, {
    duration: "20 seconds",
    onTimeout: () => new Error(`${what}: nothing arrived in 20 s`)
  })

/** Round trips that run at once on one listener take turns to connect (see `connectedPair`). */
const turn = Effect.unsafeMakeSemaphore(1)

/**
 * Connects to `listener` at `host`, checks what each end sees of the other, then sends a
 * stream of `length` bytes that the accepted side echoes back: every byte checked.
 */
const roundTrip = (listener: RegisteredSocket.TcpListener, host: string, seen: string, seed: number) =>
  Effect.scoped(Effect.gen(function*() {
    const length = 20_000
    const { client, server } = yield* connectedPair(listener, turn, host)
    assert.deepStrictEqual(server.remoteAddress, { host: seen, port: client.localAddress.port })
    assert.deepStrictEqual(server.localAddress, { host: seen, port: listener.address.port })
    assert.strictEqual(client.remoteAddress.port, listener.address.port)
    const echo = yield* Effect.fork(echoStream(server))
    const out = yield* source(length, seed)
    const sending = yield* Effect.fork(Effect.gen(function*() {
      const slices = cuts(length, 1500).map(([at, size]) => out.slice(at, size))
      for (let i = 0; i < slices.length; i += 8) yield* client.sendMany(slices.slice(i, i + 8))
      yield* client.shutdown("write")
    }))
    assert.strictEqual(yield* readToEnd(client, seed), length)
    yield* Fiber.join(sending)
    yield* Fiber.join(echo)
  }))

/** Sends `bytes` from `from` to `to` and receives it there: the datagram's sender address. */
const datagram = (
  from: RegisteredSocket.UdpSocket,
  to: RegisteredSocket.UdpSocket,
  at: RegisteredSocket.SocketAddress,
  buf: RioBuf.RioBuf,
  into: RioBuf.RioBuf
) =>
  Effect.gen(function*() {
    const receiving = yield* Effect.fork(to.receiveFrom(into))
    yield* from.sendTo(buf, at)
    const received = yield* arrives(`a datagram from ${from.address.host} to ${at.host}`, Fiber.join(receiving))
    assert.strictEqual(received.length, buf.length)
    return received.address
  })

describeSocketBackends("dual stack", (it) => {
  it.scoped(`a listener on "::" serves a client at 127.0.0.1 (seen as ${mapped}) and one at ::1, both ways`, () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ host: "::", port: 0 })
      assert.strictEqual(listener.address.host, "::")
      yield* roundTrip(listener, "127.0.0.1", mapped, 1)
      yield* roundTrip(listener, "::1", "::1", 2)
      // Both at once, on one listener.
      yield* Effect.all([roundTrip(listener, "::1", "::1", 3), roundTrip(listener, "127.0.0.1", mapped, 4)], {
        concurrency: "unbounded"
      })
    }))

  it.scoped(`a client that dials ${mapped} reaches an IPv4 listener, which sees it as 127.0.0.1`, () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ host: "127.0.0.1", port: 0 })
      yield* roundTrip(listener, mapped, "127.0.0.1", 5)
    }))

  it.scoped(`a port held on "::" is in use for 0.0.0.0 too, and one held on 0.0.0.0 for "::": WSAEADDRINUSE`, () =>
    Effect.gen(function*() {
      const inUse = <A, E extends { readonly _tag: string }, R>(bind: Effect.Effect<A, E, R>) =>
        Effect.map(Effect.flip(Effect.scoped(bind)), (error) => error._tag)
      const dual = yield* RegisteredSocket.listen({ host: "::", port: 0 })
      const port = dual.address.port
      assert.strictEqual(yield* inUse(RegisteredSocket.listen({ host: "0.0.0.0", port })), "WSAEADDRINUSE")
      assert.strictEqual(yield* inUse(RegisteredSocket.listen({ host: "::", port })), "WSAEADDRINUSE")
      const v4 = yield* RegisteredSocket.listen({ host: "0.0.0.0", port: 0 })
      assert.strictEqual(yield* inUse(RegisteredSocket.listen({ host: "::", port: v4.address.port })), "WSAEADDRINUSE")
      const udp = yield* RegisteredSocket.udp({ host: "::", port: 0 })
      assert.strictEqual(
        yield* inUse(RegisteredSocket.udp({ host: "0.0.0.0", port: udp.address.port })),
        "WSAEADDRINUSE"
      )
      // The listener still serves IPv4.
      yield* roundTrip(dual, "127.0.0.1", mapped, 6)
    }))

  it.scoped(`UDP on "::" receives from IPv4 (seen as ${mapped}) and IPv6, and replies to either`, () =>
    Effect.gen(function*() {
      const memory = yield* RegisteredIo.allocateBuffer(256)
      const slice = (at: number, length: number) => memory.unsafeSlice(at, length) as RioBuf.RioBuf
      for (let i = 0; i < 64; i++) memory.bytes[i] = i * 3
      const dual = yield* RegisteredSocket.udp({ host: "::", port: 0 })
      const v4 = yield* RegisteredSocket.udp({ host: "127.0.0.1", port: 0 })
      const v6 = yield* RegisteredSocket.udp({ host: "::1", port: 0 })
      const port = dual.address.port
      const fromV4 = yield* datagram(v4, dual, { host: "127.0.0.1", port }, slice(0, 64), slice(128, 128))
      assert.deepStrictEqual(fromV4, { host: mapped, port: v4.address.port })
      assert.deepStrictEqual([...memory.bytes.subarray(128, 192)], [...memory.bytes.subarray(0, 64)])
      const fromV6 = yield* datagram(v6, dual, { host: "::1", port }, slice(0, 48), slice(128, 128))
      assert.deepStrictEqual(fromV6, { host: "::1", port: v6.address.port })
      // Replies go to the addresses as received; the IPv4 socket sees plain IPv4.
      assert.deepStrictEqual(yield* datagram(dual, v4, fromV4, slice(0, 32), slice(128, 128)), {
        host: "127.0.0.1",
        port
      })
      assert.deepStrictEqual(yield* datagram(dual, v6, fromV6, slice(0, 16), slice(128, 128)), { host: "::1", port })
    }))

  it.scoped(`UDP on "::" with a receive ring: IPv4 senders seen as ${mapped} there too`, () =>
    Effect.gen(function*() {
      const memory = yield* RegisteredIo.allocateBuffer(64)
      const dual = yield* RegisteredSocket.udp({ host: "::", port: 0, receiveRing: { slotSize: 256, slots: 16 } })
      const v4 = yield* RegisteredSocket.udp({ host: "127.0.0.1", port: 0 })
      const buf = memory.unsafeSlice(0, 8) as RioBuf.RioBuf
      const senders: Array<RegisteredSocket.SocketAddress> = []
      for (let round = 0; round < 2; round++) {
        yield* v4.sendMany([{ buf, to: { host: "127.0.0.1", port: dual.address.port } }])
        const got = yield* arrives(
          "an IPv4 datagram in the ring",
          dual.withReceived((datagrams) => Effect.sync(() => datagrams.map((d) => d.address)))
        )
        senders.push(...got)
      }
      assert.strictEqual(senders.length, 2)
      for (const sender of senders) assert.deepStrictEqual(sender, { host: mapped, port: v4.address.port })
    }))
})
