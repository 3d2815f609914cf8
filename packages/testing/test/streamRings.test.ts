/**
 * The double's shared TCP receive slots (`NetDriver.tcpReceiveRings`): what the conformance
 * suites do not show. A stream takes a slot only when bytes arrive, so idle streams hold
 * none however many there are (the posted fallback, one receive per stream, deadlocks there);
 * a stream that finds every slot taken waits in line and is re-armed by the next recycle;
 * `pause` and `resume` steer one stream without touching the others.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { NetDriver, NetDriverError, NetSocket, Region, StreamSink, StreamSlots } from "@effect-rio/core/Driver"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { Double } from "../src/internal/double.js"

// ---- through RegisteredSocket ---------------------------------------------------------------

const STREAMS = 1000
const SLOTS = 8
const MESSAGE = 64

/** Client `id`'s 64 bytes, unlike every other client's: its id in the first two. */
const messageOf = (id: number, at: number): number =>
  at === 0 ? id >>> 8 : at === 1 ? id & 0xff : Math.imul(id * MESSAGE + at, 2654435761) >>> 24

const withDouble = <A, E>(effect: Effect.Effect<A, E, RegisteredIo.RegisteredIo | RioTest.Control | Scope.Scope>) =>
  Effect.scoped(effect).pipe(Effect.provide(RioTest.layer()))

const within = <A, E, R>(what: string, effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: "20 seconds", onTimeout: () => new Error(`timed out: ${what}`) })

describe("RioTest shared TCP receive slots", () => {
  it.live(
    "1,000 idle streams on 8 shared slots: once their clients send, every stream gets its 64 bytes",
    () =>
      withDouble(Effect.gen(function*() {
        const control = yield* RioTest.Control
        const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 64, slots: SLOTS } })
        const memory = yield* RegisteredIo.allocateBuffer(STREAMS * MESSAGE)
        const pairs = yield* Effect.forEach(Array.from({ length: STREAMS }, (_, id) => id), () =>
          Effect.all({
            client: RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port }),
            server: listener.accept
          }))
        const received = pairs.map(() => new Uint8Array(MESSAGE * 2))
        const counts = new Int32Array(STREAMS)
        let complete = 0
        let target = STREAMS - SLOTS
        const reached = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
        const take = (id: number, bytes: Uint8Array) => {
          // Room for more than 64: a stream that got another's bytes or its own twice shows.
          received[id].set(bytes.subarray(0, MESSAGE * 2 - counts[id]), counts[id])
          const before = counts[id]
          counts[id] += bytes.length
          if (before < MESSAGE && counts[id] >= MESSAGE && ++complete === target) {
            Deferred.unsafeDone(reached[target === STREAMS ? 1 : 0], Effect.void)
          }
        }
        // Every server stream receives until its end of stream: half by receiveEach, half by
        // withReceived (receiveMany as a bracket), all joined to the ring before any byte arrives.
        const receiving = yield* Effect.forEach(pairs, ({ server }, id) =>
          Effect.fork(
            id % 2 === 0
              ? server.receiveEach((bytes) => take(id, bytes))
              : Effect.iterate(1, {
                while: (n) => n > 0,
                body: () =>
                  server.withReceived((chunks) =>
                    Effect.sync(() => {
                      for (const chunk of chunks) take(id, chunk.bytes)
                      return chunks.length
                    })
                  )
              })
          ))
        yield* Effect.sleep("20 millis")
        assert.deepStrictEqual((yield* pairs[1].server.receiveRing)?.slots, SLOTS)
        const send = (id: number) =>
          Effect.gen(function*() {
            for (let at = 0; at < MESSAGE; at++) memory.bytes[id * MESSAGE + at] = messageOf(id, at)
            yield* pairs[id].client.sendAll(yield* memory.slice(id * MESSAGE, MESSAGE))
          })
        // The streams that joined the ring first stay idle while the other 992 send at once: with
        // one receive posted per stream they would hold all 8 slots, and nothing would move.
        yield* Effect.forEach(Array.from({ length: STREAMS - SLOTS }, (_, i) => i + SLOTS), send, {
          concurrency: "unbounded",
          discard: true
        })
        yield* within(`992 streams' bytes (${complete} arrived)`, Deferred.await(reached[0]))
        target = STREAMS
        yield* Effect.forEach(Array.from({ length: SLOTS }, (_, i) => i), send, { discard: true })
        yield* within(`the last 8 streams' bytes (${complete - (STREAMS - SLOTS)} arrived)`, Deferred.await(reached[1]))
        yield* Effect.forEach(pairs, ({ client }) => client.shutdown("write"), { discard: true })
        yield* within("every stream's end", Fiber.joinAll(receiving))
        for (let id = 0; id < STREAMS; id++) {
          assert.strictEqual(counts[id], MESSAGE, `stream ${id}`)
          for (let at = 0; at < MESSAGE; at++) assert.strictEqual(received[id][at], messageOf(id, at))
        }
        assert.deepStrictEqual(yield* control.violations, [])
      })),
    60_000
  )

  it.live("resetConnections ends a stream receiving through the slots with WSAECONNRESET, after its chunks", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 64, slots: 2 } })
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const memory = yield* RegisteredIo.allocateBuffer(100)
      yield* client.sendAll(yield* memory.slice(0, 100))
      let received = 0
      const receiving = yield* Effect.fork(server.receiveEach((bytes) => received += bytes.length))
      yield* Effect.sleep("10 millis")
      assert.strictEqual(received, 100)
      yield* control.resetConnections
      assert.strictEqual((yield* Effect.flip(Fiber.join(receiving)))._tag, "WSAECONNRESET")
    })))

  it.live("the slots' registration counts against lockedMemoryLimit: over it, the first batch call is WSAENOBUFS", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 1024, slots: 8 } })
      yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* listener.accept
      const error = yield* Effect.flip(server.receiveMany())
      assert.strictEqual(error._tag, "WSAENOBUFS")
    }).pipe(Effect.scoped, Effect.provide(RioTest.layer({ lockedMemoryLimit: 4096 }))))
})

// ---- the driver's slots, directly -----------------------------------------------------------

const SLOT_BYTES = 4

const ok = <A>(value: A | NetDriverError): A => {
  if (typeof value === "object" && value !== null && "_tag" in value) {
    assert.fail(`expected success, got ${value._tag}: ${value.message}`)
  }
  return value as A
}

/** Lets every microtask and zero-delay timer run, so that all queued completions are delivered. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

const region = (memory: Uint8Array): Region => ({
  bufferId: 0 as never,
  offset: 0,
  length: memory.length,
  base: 0,
  memory
})

/** A double's network, one set of `slots` slots over `memory`, and what every sink heard, in order. */
const setUp = (slots: number) => {
  const double = new Double({})
  const net = double.driver.net!
  const memory = new Uint8Array(slots * SLOT_BYTES)
  const set: StreamSlots = ok(net.tcpReceiveRings!.open(region(memory), SLOT_BYTES, slots))
  const log: Array<string> = []
  /** The slots each stream holds (delivered, not yet recycled), by name. */
  const held = new Map<string, Array<number>>()
  let delivering = false
  const sink = (name: string, onDeliver?: () => void): StreamSink => {
    held.set(name, [])
    return {
      deliver: (slot, length) => {
        assert.isFalse(delivering, "deliver is never re-entered")
        delivering = true
        const bytes = new TextDecoder().decode(memory.subarray(slot * SLOT_BYTES, slot * SLOT_BYTES + length))
        log.push(`${name} ${bytes}`)
        held.get(name)!.push(slot)
        onDeliver?.()
        delivering = false
      },
      end: (error) => log.push(`${name} end ${error?._tag ?? "ok"}`),
      flush: () => log.push(`${name} flush`)
    }
  }
  const recycle = (name: string) => set.recycle(held.get(name)!.shift()!)
  return { double, net, set, log, sink, recycle }
}

/** A connected pair of the double's network. */
const pair = async (net: NetDriver): Promise<{ client: NetSocket; server: NetSocket }> => {
  const listener = ok(net.listen({ host: "127.0.0.1", port: 0 }, 8, []))
  const client = await new Promise<NetSocket | NetDriverError>((done) => net.connect(listener.local, [], done))
  const server = await new Promise<NetSocket | NetDriverError>((done) => net.accept(listener, [], done))
  return { client: ok(client), server: ok(server) }
}

const write = (net: NetDriver, socket: NetSocket, text: string) => {
  const memory = new TextEncoder().encode(text)
  net.send(socket, region(memory), () => {})
}

const closed = (close: (done: () => void) => void) => new Promise<void>((resolve) => close(resolve))

describe("RioTest shared TCP receive slots, through the driver", () => {
  it("idle streams hold no slot; a starved stream waits in line and the next recycle re-arms it", async () => {
    const { double, log, net, recycle, set, sink } = setUp(2)
    const [idle, busy, late] = [await pair(net), await pair(net), await pair(net)]
    const receivers = [idle, busy, late].map(({ server }, i) =>
      ok(set.receive(server, sink(["idle", "busy", "late"][i])))
    )
    assert.match(set.mechanism, /^provided buffers, a slot taken only when bytes arrive/)
    write(net, busy.client, "bbbbbbbbbb")
    await settle()
    // Both slots in one burst, flushed once after it; the idle stream has none.
    assert.deepStrictEqual(log.splice(0), ["busy bbbb", "busy bbbb", "busy flush"])
    // Both starved now, in this order: the busy stream's last 2 bytes, then the late one's.
    write(net, late.client, "cc")
    await settle()
    assert.deepStrictEqual(log.splice(0), [], "every slot is held: starved")
    recycle("busy")
    await settle()
    assert.deepStrictEqual(log.splice(0), ["busy bb", "busy flush"])
    recycle("busy")
    await settle()
    assert.deepStrictEqual(log.splice(0), ["late cc", "late flush"])
    assert.strictEqual(double.network.outstandingOperations, 3, "one per live receiver")
    await Promise.all(receivers.map((receiver) => closed(receiver.close)))
    await closed(set.close)
    assert.strictEqual(double.network.outstandingOperations, 0)
  })

  it("pause keeps a stream's bytes in the network, also from inside deliver; resume takes them", async () => {
    const { log, net, set, sink } = setUp(8)
    const { client, server } = await pair(net)
    let pauseAfter = 1
    const receiver = ok(set.receive(server, sink("s", () => --pauseAfter === 0 && receiver.pause())))
    write(net, client, "aaaabbbbcccc")
    await settle()
    assert.deepStrictEqual(log.splice(0), ["s aaaa", "s flush"], "the pause acts within the burst")
    receiver.resume()
    await settle()
    assert.deepStrictEqual(log.splice(0), ["s bbbb", "s cccc", "s flush"])
    receiver.pause()
    write(net, client, "dd")
    net.shutdown(client, "write")
    await settle()
    assert.deepStrictEqual(log.splice(0), [], "paused: neither bytes nor the end")
    receiver.resume()
    await settle()
    assert.deepStrictEqual(log.splice(0), ["s dd", "s end ok", "s flush"])
    await closed(receiver.close)
  })

  it("a reset ends the stream with WSAECONNRESET, as a plain receive fails; limitChunk caps each slot", async () => {
    const { double, log, net, set, sink } = setUp(8)
    const { client, server } = await pair(net)
    ok(set.receive(server, sink("s")))
    write(net, client, "abcdefg")
    // After the send (which the limit would cut too), before the stream's turn.
    double.network.limitChunk(3)
    await settle()
    assert.deepStrictEqual(log.splice(0), ["s abc", "s def", "s g", "s flush"])
    double.network.resetConnections()
    write(net, client, "late")
    await settle()
    assert.deepStrictEqual(log.splice(0), ["s end WSAECONNRESET", "s flush"])
  })

  it("close: a receiver's done runs once, later; the set's only after its last receiver closed", async () => {
    const { double, net, set, sink } = setUp(2)
    const { client, server } = await pair(net)
    const receiver = ok(set.receive(server, sink("s")))
    let receiverDone = 0
    let setDone = 0
    receiver.close(() => receiverDone++)
    set.close(() => setDone++)
    assert.strictEqual(receiverDone, 0, "not inside the call")
    write(net, client, "ignored")
    await settle()
    assert.deepStrictEqual([receiverDone, setDone], [1, 1])
    assert.strictEqual(double.network.outstandingOperations, 0)
    const late = set.receive(server, sink("t"))
    assert.isTrue("_tag" in late, "a closed set takes no receiver")
  })
})
