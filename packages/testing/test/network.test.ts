/**
 * The double's network through its driver directly: UDP datagrams, TCP streams, their
 * faults and what the control reports (see `networkParts.ts` for the helpers).
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Double } from "../src/internal/double.js"
import type { NetSocket } from "./networkParts.js"
import {
  any4,
  bytes,
  connected,
  drainDatagrams,
  flush,
  ok,
  receive,
  receiveFrom,
  region,
  send,
  sendTo,
  tagOf,
  text,
  track,
  udp
} from "./networkParts.js"

describe("RioTest network", () => {
  it("round-trips a UDP datagram into the slice given, with the sender's address", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const a = udp(net)
    const b = udp(net)
    const memory = new Uint8Array(16).fill(0xEE)
    const receiving = receiveFrom(net, b, memory, 4, 8)
    const payload = bytes("hello")
    const sent = await sendTo(net, a, payload, b.local)
    // The datagram was copied at submission: changing the source afterwards must not show.
    payload.fill(0)
    assert.strictEqual(sent, 5)
    const received = ok(await receiving.result)
    assert.deepStrictEqual(received, { length: 5, address: { host: "127.0.0.1", port: a.local.port } })
    assert.strictEqual(text(memory, 4, 5), "hello")
    assert.strictEqual(memory[3], 0xEE)
    assert.strictEqual(memory[9], 0xEE)
    assert.isFalse(receiving.synchronous())
    assert.strictEqual(double.network.outstandingOperations, 0)
    assert.strictEqual(double.network.datagramsInFlight, 0)
  })

  it("gives port 0 distinct ephemeral ports from 49152, with UDP and TCP counted apart", () => {
    const net = new Double({}).driver.net!
    const ports = [udp(net), udp(net), udp(net)].map((socket) => socket.local.port)
    assert.deepStrictEqual(ports, [49152, 49153, 49154])
    assert.strictEqual(ok(net.listen(any4, 1, [])).local.port, 49152)
    const handles = new Set([udp(net).handle, udp(net).handle, ok(net.listen(any4, 1, [])).handle])
    assert.strictEqual(handles.size, 3)
  })

  it("refuses a port already bound by the same protocol, and hosts that are not loopback", () => {
    const net = new Double({}).driver.net!
    const first = udp(net, { host: "127.0.0.1", port: 5000 })
    assert.strictEqual(tagOf(net.udp({ host: "127.0.0.1", port: 5000 }, [])), "WSAEADDRINUSE")
    // The wildcard of a loopback-only network is the loopback.
    assert.strictEqual(tagOf(net.udp({ host: "0.0.0.0", port: 5000 }, [])), "WSAEADDRINUSE")
    assert.strictEqual(tagOf(net.listen({ host: "127.0.0.1", port: 5000 }, 1, [])), undefined)
    assert.strictEqual(tagOf(net.listen({ host: "127.0.0.1", port: 5000 }, 1, [])), "WSAEADDRINUSE")
    assert.strictEqual(tagOf(net.udp({ host: "10.0.0.1", port: 5001 }, [])), "WSAEADDRNOTAVAIL")
    assert.strictEqual(tagOf(net.udp({ host: "::1", port: 5000 }, [])), undefined)
    net.close(first)
    assert.strictEqual(udp(net, { host: "127.0.0.1", port: 5000 }).local.port, 5000)
  })

  it("frees a TCP client's own port on close, and a listener's, but not for the server end", async () => {
    const net = new Double({}).driver.net!
    const { client, listener, server } = await connected(net)
    const taken = { host: "127.0.0.1", port: client.local.port }
    assert.strictEqual(tagOf(net.listen(taken, 1, [])), "WSAEADDRINUSE")
    net.close(client)
    net.close(server)
    // The server end shares the listener's port: closing it must not free that.
    assert.strictEqual(tagOf(net.listen(listener.local, 1, [])), "WSAEADDRINUSE")
    assert.strictEqual(tagOf(net.listen(taken, 1, [])), undefined)
    net.close(listener)
    assert.strictEqual(tagOf(net.listen(listener.local, 1, [])), undefined)
  })

  it("refuses a connection where nothing listens, and once the backlog is full", async () => {
    const net = new Double({}).driver.net!
    const refused = track<NetSocket>((done) => net.connect({ host: "127.0.0.1", port: 6000 }, [], done))
    assert.strictEqual(tagOf(await refused.result), "WSAECONNREFUSED")
    assert.isFalse(refused.synchronous())
    const listener = ok(net.listen(any4, 1, []))
    ok(await track<NetSocket>((done) => net.connect(listener.local, [], done)).result)
    const full = await track<NetSocket>((done) => net.connect(listener.local, [], done)).result
    assert.strictEqual(tagOf(full), "WSAECONNREFUSED")
    assert.match((full as NetDriverError).message, /backlog/)
  })

  it("carries a TCP stream through short writes and reads, reassembled in order", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const { client, server } = await connected(net)
    double.network.limitChunk(3)
    const message = bytes("registered i/o, echoed")
    // Client writes until every byte is accepted; each send moves at most 3.
    const sizes: Array<number> = []
    for (let offset = 0; offset < message.length;) {
      const n = ok(await send(net, client, message, offset))
      sizes.push(n)
      offset += n
    }
    assert.isTrue(sizes.every((n) => n <= 3))
    // Server echoes what it reads, each read at most 3.
    const scratch = new Uint8Array(64)
    for (let echoed = 0; echoed < message.length;) {
      const n = ok(await receive(net, server, scratch).result)
      assert.isTrue(n > 0 && n <= 3)
      for (let sent = 0; sent < n;) sent += ok(await send(net, server, scratch, sent, n - sent))
      echoed += n
    }
    const reply = new Uint8Array(message.length)
    for (let got = 0; got < reply.length;) got += ok(await receive(net, client, reply, got).result)
    assert.strictEqual(text(reply, 0, reply.length), "registered i/o, echoed")
    const counts = double.network.connectionBytes
    assert.deepStrictEqual(
      counts.map((end) => [(end.local as SocketAddress).port, end.sent, end.received]),
      [[client.local.port, message.length, message.length], [server.local.port, message.length, message.length]]
    )
  })

  it("half-closes: the peer drains then reads 0, and can still answer; shutdown read gives 0", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const { client, server } = await connected(net)
    ok(await send(net, client, bytes("abc")))
    assert.strictEqual(net.shutdown(client, "write"), undefined)
    const memory = new Uint8Array(8)
    assert.strictEqual(await receive(net, server, memory).result, 3)
    assert.strictEqual(text(memory, 0, 3), "abc")
    assert.strictEqual(await receive(net, server, memory).result, 0)
    assert.strictEqual(tagOf(await send(net, client, bytes("late"))), "WSAESHUTDOWN")
    ok(await send(net, server, bytes("reply")))
    assert.strictEqual(await receive(net, client, memory).result, 5)
    // A waiting receive is ended by a shutdown of reading, and later ones read 0 at once.
    const waiting = receive(net, client, memory)
    assert.strictEqual(net.shutdown(client, "read"), undefined)
    assert.strictEqual(await waiting.result, 0)
    assert.strictEqual(await receive(net, client, memory).result, 0)
  })

  it("gives a waiting receive 0 on the peer's orderly close, and a send to it WSAECONNRESET", async () => {
    const net = new Double({}).driver.net!
    const { client, server } = await connected(net)
    const waiting = receive(net, server, new Uint8Array(4))
    net.close(client)
    assert.strictEqual(await waiting.result, 0)
    assert.strictEqual(tagOf(await send(net, server, bytes("x"))), "WSAECONNRESET")
  })

  it("resets connections a listener closed without accepting", async () => {
    const net = new Double({}).driver.net!
    const listener = ok(net.listen(any4, 4, []))
    const client = ok(await track<NetSocket>((done) => net.connect(listener.local, [], done)).result)
    const waiting = receive(net, client, new Uint8Array(4))
    net.close(listener)
    assert.strictEqual(tagOf(await waiting.result), "WSAECONNRESET")
    const refused = await track<NetSocket>((done) => net.connect(listener.local, [], done)).result
    assert.strictEqual(tagOf(refused), "WSAECONNREFUSED")
  })

  it("cancels a waiting receive with WSAECONNABORTED, exactly once and never synchronously", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const socket = udp(net)
    const { server } = await connected(net)
    const datagram = receiveFrom(net, socket, new Uint8Array(8))
    const stream = receive(net, server, new Uint8Array(8))
    assert.strictEqual(double.network.outstandingOperations, 2)
    datagram.pending.cancel()
    stream.pending.cancel()
    assert.strictEqual(datagram.calls(), 0)
    assert.strictEqual(stream.calls(), 0)
    datagram.pending.cancel()
    assert.strictEqual(tagOf(await datagram.result), "WSAECONNABORTED")
    assert.strictEqual(tagOf(await stream.result), "WSAECONNABORTED")
    datagram.pending.cancel()
    await flush()
    assert.strictEqual(datagram.calls(), 1)
    assert.strictEqual(stream.calls(), 1)
    assert.isFalse(datagram.synchronous() || stream.synchronous())
    assert.strictEqual(double.network.outstandingOperations, 0)
    // The cancelled receive no longer waits: the next datagram goes to the next receive.
    const next = receiveFrom(net, socket, new Uint8Array(8))
    await sendTo(net, socket, bytes("z"), socket.local)
    assert.strictEqual(ok(await next.result).length, 1)
  })

  it("does nothing when cancelling an operation that already completed", async () => {
    const net = new Double({}).driver.net!
    const socket = udp(net)
    const waiting = receiveFrom(net, socket, new Uint8Array(8))
    await sendTo(net, socket, bytes("done"), socket.local)
    waiting.pending.cancel()
    assert.strictEqual(ok(await waiting.result).length, 4)
    await flush()
    assert.strictEqual(waiting.calls(), 1)
  })

  it("drops, duplicates and reorders datagrams as told", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const a = udp(net)
    const b = udp(net)
    const sendAll = async (values: ReadonlyArray<number>) => {
      for (const value of values) assert.strictEqual(await sendTo(net, a, new Uint8Array([value]), b.local), 1)
    }
    double.network.dropDatagrams(2)
    await sendAll([1, 2, 3, 4])
    assert.deepStrictEqual(await drainDatagrams(double, b), [3, 4])
    double.network.duplicateDatagrams(2)
    await sendAll([5, 6, 7])
    assert.deepStrictEqual(await drainDatagrams(double, b), [5, 5, 6, 6, 7])
    double.network.reorderDatagrams(3)
    await sendAll([8, 9])
    // Held, not lost: in flight, but nothing to receive yet.
    assert.strictEqual(double.network.datagramsInFlight, 2)
    await sendAll([10, 11])
    assert.deepStrictEqual(await drainDatagrams(double, b), [10, 9, 8, 11])
  })

  it("delays datagrams by real time", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const a = udp(net)
    const b = udp(net)
    double.network.delayDatagrams(1, 30)
    const waiting = receiveFrom(net, b, new Uint8Array(4))
    await sendTo(net, a, bytes("late"), b.local)
    await sendTo(net, a, bytes("now"), b.local)
    assert.strictEqual(ok(await waiting.result).length, 3)
    assert.strictEqual(double.network.datagramsInFlight, 1)
    assert.strictEqual(ok(await receiveFrom(net, b, new Uint8Array(4)).result).length, 4)
  })

  it("resets every open connection: pending and later operations on both ends fail", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const { client, server } = await connected(net)
    ok(await send(net, client, bytes("unread")))
    const clientWaiting = receive(net, client, new Uint8Array(4))
    double.network.resetConnections()
    assert.strictEqual(tagOf(await clientWaiting.result), "WSAECONNRESET")
    assert.strictEqual(tagOf(await receive(net, server, new Uint8Array(4)).result), "WSAECONNRESET")
    assert.strictEqual(tagOf(await send(net, server, bytes("x"))), "WSAECONNRESET")
    assert.strictEqual(tagOf(await send(net, client, bytes("x"))), "WSAECONNRESET")
    // Only connections open at the time: a new one works.
    const fresh = await connected(net)
    assert.strictEqual(await send(net, fresh.client, bytes("ok")), 2)
  })

  it("reset clears the network faults", async () => {
    const double = new Double({})
    const net = double.driver.net!
    const { client, server } = await connected(net)
    const socket = udp(net)
    double.network.dropDatagrams(5)
    double.network.limitChunk(1)
    double.reset()
    await sendTo(net, socket, bytes("kept"), socket.local)
    assert.strictEqual(double.network.datagramsInFlight, 1)
    assert.strictEqual(await send(net, client, bytes("whole")), 5)
    assert.strictEqual(await receive(net, server, new Uint8Array(8)).result, 5)
  })

  it("keeps the head of a datagram too large for the slice and fails it with WSAEMSGSIZE", async () => {
    const net = new Double({}).driver.net!
    const socket = udp(net)
    await sendTo(net, socket, bytes("0123456789"), socket.local)
    await sendTo(net, socket, bytes("ab"), socket.local)
    const memory = new Uint8Array(4)
    const tooLarge = await receiveFrom(net, socket, memory).result
    assert.strictEqual(tagOf(tooLarge), "WSAEMSGSIZE")
    assert.strictEqual(text(memory, 0, 4), "0123")
    // The rest of it is lost: the next receive gets the next datagram.
    assert.strictEqual(ok(await receiveFrom(net, socket, memory).result).length, 2)
    assert.strictEqual(text(memory, 0, 2), "ab")
  })

  it("delivers 256 completions through a completion queue of 8, in batches, none lost", async () => {
    const double = new Double({ completionQueueSize: 8 })
    const net = double.driver.net!
    const socket = udp(net)
    const memory = new Uint8Array(256)
    let delivered = 0
    const order: Array<number> = []
    for (let i = 0; i < 128; i++) {
      net.receiveFrom(socket, region(memory, i, 1), (result) => {
        delivered++
        order.push(ok(result).length === 1 ? memory[i] : -1)
      })
    }
    for (let i = 0; i < 128; i++) {
      net.sendTo(socket, region(new Uint8Array([i])), socket.local, (result) => {
        delivered++
        assert.strictEqual(result, 1)
      })
    }
    assert.strictEqual(double.network.outstandingOperations, 256)
    assert.strictEqual(delivered, 0)
    await Promise.resolve()
    // One microtask drain reaps one queue's worth.
    assert.strictEqual(delivered, 8)
    await flush()
    assert.strictEqual(delivered, 256)
    assert.strictEqual(double.network.outstandingOperations, 0)
    // Receives waiting on one socket are served in the order they were posted.
    assert.deepStrictEqual(order, Array.from({ length: 128 }, (_, i) => i))
  })

  it("refuses a completion queue size that is not a positive integer", () => {
    for (const completionQueueSize of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new Double({ completionQueueSize }), RangeError)
    }
    assert.doesNotThrow(() => new Double({ completionQueueSize: Infinity }))
  })

  it.effect("exposes the network faults and inspection through Control", () =>
    Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* control.dropDatagrams(1)
      yield* control.duplicateDatagrams(1)
      yield* control.reorderDatagrams(2)
      yield* control.delayDatagrams(1, "10 millis")
      yield* control.limitChunk(4)
      yield* control.limitChunk(undefined)
      yield* control.resetConnections
      yield* control.reset
      assert.strictEqual(yield* control.datagramsInFlight, 0)
      assert.deepStrictEqual(yield* control.connectionBytes, [])
      assert.strictEqual(yield* control.outstandingOperations, 0)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(control.dropDatagrams(0))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(control.limitChunk(1.5))))
      assert.isTrue(Exit.isFailure(yield* Effect.exit(control.delayDatagrams(1, Duration.infinity))))
    }).pipe(Effect.provide(RioTest.layer())))
})
