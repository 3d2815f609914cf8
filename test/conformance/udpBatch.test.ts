/**
 * UDP batches conformance: `receiveMany`/`withReceived` from a socket's receive ring and
 * `sendMany`, the same on every backend with sockets, every byte checked.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { describeSocketBackends } from "./describeBackends.js"
import { batchCalls, leavesNothingBehind, vmPinKiB } from "./processState.js"

/** Message `id` of `size` bytes: a 4-byte id, then bytes derived from it. */
const fill = (bytes: Uint8Array, id: number): void => {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(0, id)
  for (let i = 4; i < bytes.length; i++) bytes[i] = (id * 31 + i * 7) & 0xff
}

const idOf = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)

const intact = (bytes: Uint8Array): boolean => {
  const id = idOf(bytes)
  for (let i = 4; i < bytes.length; i++) if (bytes[i] !== ((id * 31 + i * 7) & 0xff)) return false
  return true
}

const sizeOf = (id: number, max: number): number => 4 + ((id * 7919 + 13) % 104729) % (max - 3)

/** A client's outgoing slices: `count` slots of `size` bytes in one registration. */
const outbox = (count: number, size: number) =>
  Effect.map(RegisteredIo.allocateBuffer(count * size), (registration) => ({
    registration,
    slot: (i: number, length: number) => {
      const buf = registration.unsafeSlice(i * size, length) as RioBuf.RioBuf
      const bytes = registration.bytes.subarray(i * size, i * size + length)
      return { buf, bytes }
    }
  }))

/** Echoes every batch back to its senders with one sendMany, until interrupted. */
const batchEcho = (server: RegisteredSocket.UdpSocket) =>
  Effect.forever(server.withReceived((datagrams) => {
    const replies: Array<RegisteredSocket.OutgoingDatagram> = []
    for (const datagram of datagrams) replies.push({ buf: datagram.buf, to: datagram.address })
    return server.sendMany(replies)
  }))

describeSocketBackends("UDP batches", (it, backend) => {
  it.scoped("echo: 10,000 datagrams of random sizes, 4 clients sending batches of 8, every byte checked", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slotSize: 1472, slots: 256 } })
      yield* Effect.forkScoped(batchEcho(server))
      // At most 32 datagrams in flight: a kernel's default socket buffer (about 200 KiB, 2+ KiB
      // per datagram of this size) never overflows, so none is dropped and every one is checked.
      let checked = 0
      yield* Effect.forEach(
        Array.from({ length: 4 }, (_, worker) => worker),
        (worker) =>
          Effect.scoped(Effect.gen(function*() {
            const client = yield* RegisteredSocket.udp({ receiveRing: { slotSize: 1472, slots: 32 } })
            const out = yield* outbox(8, 1472)
            const ids: Array<number> = []
            for (let id = worker; id < 10_000; id += 4) ids.push(id)
            for (let first = 0; first < ids.length; first += 8) {
              const batch = ids.slice(first, first + 8)
              const datagrams = batch.map((id, i) => {
                const { buf, bytes } = out.slot(i, sizeOf(id, 1472))
                fill(bytes, id)
                return { buf, to: server.address }
              })
              assert.strictEqual(yield* client.sendMany(datagrams), batch.length)
              const expected = new Set(batch)
              while (expected.size > 0) {
                yield* client.withReceived((replies) =>
                  Effect.sync(() => {
                    for (const reply of replies) {
                      const id = idOf(reply.bytes)
                      assert.isTrue(expected.delete(id), `unexpected or repeated datagram ${id}`)
                      assert.strictEqual(reply.buf.length, sizeOf(id, 1472))
                      assert.strictEqual(reply.bytes.length, reply.buf.length)
                      assert.isTrue(intact(reply.bytes), `datagram ${id}`)
                      assert.deepStrictEqual(reply.address, server.address)
                      checked++
                    }
                  })
                )
              }
            }
          })),
        { concurrency: 4, discard: true }
      )
      assert.strictEqual(checked, 10_000)
      const ring = yield* server.receiveRing
      assert.isDefined(ring)
      assert.strictEqual(ring!.slots, 256)
    }))

  it.scoped("a ring that runs empty: held slots, more arriving, then released — the rest intact and in order", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slotSize: 64, slots: 4 } })
      const client = yield* RegisteredSocket.udp()
      const out = yield* outbox(44, 64)
      const send = (id: number) =>
        Effect.suspend(() => {
          const { buf, bytes } = out.slot(id, 64)
          fill(bytes, id)
          return client.sendTo(buf, server.address)
        })
      for (let id = 0; id < 4; id++) yield* send(id)
      const held = yield* Scope.make()
      const first: Array<number> = []
      while (first.length < 4) {
        const batch = yield* Scope.extend(server.receiveMany(), held)
        for (const datagram of batch) first.push(idOf(datagram.bytes))
      }
      assert.deepStrictEqual(first, [0, 1, 2, 3])
      // Every slot is lent out: these wait in the kernel (or are dropped by it, never corrupted).
      for (let id = 4; id < 44; id++) yield* send(id)
      yield* Effect.sleep("20 millis")
      yield* Scope.close(held, Exit.void)
      const rest: Array<number> = []
      while (rest.length === 0 || rest[rest.length - 1]! < 43) {
        const got = yield* Effect.timeoutOption(
          server.withReceived((batch) =>
            Effect.sync(() => {
              for (const datagram of batch) {
                assert.isTrue(intact(datagram.bytes))
                rest.push(idOf(datagram.bytes))
              }
            })
          ),
          "500 millis"
        )
        if (Option.isNone(got)) break
      }
      for (let i = 1; i < rest.length; i++) assert.isAbove(rest[i]!, rest[i - 1]!, "in order")
      assert.isAtLeast(rest.length, 30, `delivered after release: ${rest.join(",")}`)
      assert.strictEqual(rest[0], 4)
    }))

  it.scoped("interrupting a waiting receiveMany loses nothing: the next call gets what arrived", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp()
      const client = yield* RegisteredSocket.udp()
      const out = yield* outbox(1, 64)
      const waiting = yield* Effect.fork(Effect.scoped(server.receiveMany()))
      yield* Effect.sleep("5 millis")
      yield* Fiber.interrupt(waiting)
      const { buf, bytes } = out.slot(0, 64)
      fill(bytes, 7)
      yield* client.sendTo(buf, server.address)
      const ids = yield* server.withReceived((batch) => Effect.succeed(batch.map((d) => idOf(d.bytes))))
      assert.deepStrictEqual(ids, [7])
    }))

  it.scoped("a datagram larger than a slot fails its turn with WSAEMSGSIZE; the next call goes on", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slotSize: 100, slots: 8 } })
      const client = yield* RegisteredSocket.udp()
      const out = yield* outbox(3, 300)
      for (const [id, size] of [[1, 50], [2, 300], [3, 60]] as const) {
        const { buf, bytes } = out.slot(id - 1, size)
        fill(bytes, id)
        yield* client.sendTo(buf, server.address)
      }
      yield* Effect.sleep("20 millis")
      const received: Array<number> = []
      const collect = server.withReceived((batch) =>
        Effect.sync(() => {
          for (const datagram of batch) received.push(idOf(datagram.bytes))
        })
      )
      yield* collect
      assert.deepStrictEqual(received, [1])
      const error = yield* Effect.flip(collect)
      assert.strictEqual(error._tag, "WSAEMSGSIZE")
      if (error._tag === "WSAEMSGSIZE") {
        assert.deepStrictEqual(error.address, client.address)
        assert.strictEqual(error.size, backend.sockets?.truncatedSizeUnknown === undefined ? 300 : undefined)
      }
      yield* collect
      assert.deepStrictEqual(received, [1, 3])
    }))

  it.scoped("bad input is typed and sends nothing: a bad slice or address in a batch, a bad max, bad ring sizes", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp()
      const client = yield* RegisteredSocket.udp()
      const out = yield* outbox(2, 64)
      const good = { buf: out.slot(0, 64).buf, to: server.address }
      const pastEnd = { buf: { ...out.slot(1, 64).buf, length: 65 }, to: server.address }
      assert.strictEqual((yield* Effect.flip(client.sendMany([good, pastEnd])))._tag, "WSAEFAULT")
      const badPort = { buf: good.buf, to: { host: "127.0.0.1", port: 70000 } }
      assert.strictEqual((yield* Effect.flip(client.sendMany([good, badPort])))._tag, "WSAEINVAL")
      assert.strictEqual(yield* client.sendMany([]), 0)
      const nothing = yield* Effect.timeoutOption(Effect.scoped(server.receiveMany()), "30 millis")
      assert.isTrue(Option.isNone(nothing), "nothing of a refused batch was sent")
      for (const max of [0, -1, 1.5, Number.NaN]) {
        assert.strictEqual((yield* Effect.flip(Effect.scoped(server.receiveMany(max))))._tag, "WSAEINVAL")
      }
      for (const receiveRing of [{ slots: 0 }, { slots: 40_000 }, { slotSize: 0 }, { slotSize: 70_000 }]) {
        assert.strictEqual((yield* Effect.flip(RegisteredSocket.udp({ receiveRing })))._tag, "WSAEINVAL")
      }
    }))

  it.effect("closing: a waiting receiveMany ends aborted; a lent batch keeps the ring until it is returned", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const pinned = vmPinKiB()
      const sockets = yield* Scope.make()
      const server = yield* Scope.extend(RegisteredSocket.udp(), sockets)
      const client = yield* Scope.extend(RegisteredSocket.udp(), sockets)
      const out = yield* Scope.extend(outbox(1, 64), sockets)
      const { buf, bytes } = out.slot(0, 64)
      fill(bytes, 9)
      yield* client.sendTo(buf, server.address)
      const lent = yield* Scope.make()
      const batch = yield* Scope.extend(server.receiveMany(), lent)
      assert.strictEqual(idOf(batch[0]!.bytes), 9)
      const waiting = yield* Effect.fork(Effect.scoped(server.receiveMany()))
      yield* Effect.sleep("5 millis")
      const closing = yield* Effect.fork(Scope.close(sockets, Exit.void))
      const ended = yield* Fiber.join(waiting).pipe(Effect.flip)
      assert.strictEqual(ended._tag, "WSAECONNABORTED")
      yield* Effect.sleep("20 millis")
      assert.isNull(closing.unsafePoll(), "the close waits for the lent batch")
      assert.isTrue(intact(batch[0]!.bytes), "a lent datagram stays intact while the socket closes")
      yield* Scope.close(lent, Exit.void)
      yield* Fiber.join(closing)
      assert.deepStrictEqual(yield* io.stats, before)
      assert.strictEqual(vmPinKiB(), pinned)
    }))

  it.scoped("an interrupted sendMany goes out whole, the datagrams still waiting for a place in the queue too", () =>
    Effect.gen(function*() {
      const receiver = yield* RegisteredSocket.udp({ receiveRing: { slotSize: 64, slots: 64 } })
      const sender = yield* RegisteredSocket.udp({ maxOutstandingSends: 2 })
      const out = yield* outbox(40, 64)
      const datagrams = Array.from({ length: 40 }, (_, id) => {
        const { buf, bytes } = out.slot(id, 64)
        fill(bytes, id)
        return { buf, to: receiver.address }
      })
      const sending = yield* Effect.fork(sender.sendMany(datagrams))
      // Interrupted once it has begun: its first sends hold their slices' tokens.
      while (out.registration.inFlight === 0) yield* Effect.yieldNow()
      yield* Fiber.interrupt(sending)
      assert.strictEqual(out.registration.inFlight, 0, "the interruption ended with the batch")
      const seen = new Set<number>()
      while (seen.size < 40) {
        yield* receiver.withReceived((batch) =>
          Effect.sync(() => {
            for (const datagram of batch) {
              assert.isTrue(intact(datagram.bytes), `datagram ${idOf(datagram.bytes)} intact`)
              seen.add(idOf(datagram.bytes))
            }
          })
        )
      }
      assert.deepStrictEqual([...seen].sort((a, b) => a - b), Array.from({ length: 40 }, (_, id) => id))
    }))

  it.effect("10,000 batch scopes and brackets leave registrations and pinned pages where they started", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const control = yield* Effect.serviceOption(RioTest.Control)
      const before = yield* io.stats
      const pinned = vmPinKiB()
      yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 8, slotSize: 64 } })
        const client = yield* RegisteredSocket.udp()
        const out = yield* outbox(1, 16)
        const { buf, bytes } = out.slot(0, 16)
        for (let id = 0; id < 10_000; id++) {
          fill(bytes, id)
          yield* client.sendTo(buf, server.address)
          const got = id % 2 === 0
            ? yield* Effect.scoped(Effect.map(server.receiveMany(), (batch) => idOf(batch[0]!.bytes)))
            : yield* server.withReceived((batch) => Effect.succeed(idOf(batch[0]!.bytes)))
          assert.strictEqual(got, id)
        }
        const during = yield* io.stats
        assert.strictEqual(during.registeredBuffers, before.registeredBuffers + 2, "the ring and the outbox")
      }))
      assert.deepStrictEqual(yield* io.stats, before)
      assert.strictEqual(vmPinKiB(), pinned)
      if (Option.isSome(control)) assert.deepStrictEqual(yield* control.value.violations, [])
    }))

  it.effect.prop(
    "random interruption of batch receives and sends: every slot and token back, nothing lost that arrived",
    [batchCalls],
    ([calls]) =>
      leavesNothingBehind(
        calls,
        Effect.gen(function*() {
          const a = yield* RegisteredSocket.udp({ receiveRing: { slots: 4, slotSize: 64 } })
          const b = yield* RegisteredSocket.udp({ receiveRing: { slots: 4, slotSize: 64 } })
          const out = yield* outbox(4, 64)
          const datagrams = [0, 1, 2, 3].map((i) => ({ buf: out.slot(i, 64).buf, to: b.address }))
          return { receiver: b, sendMany: a.sendMany(datagrams), inFlight: () => out.registration.inFlight }
        })
      ),
    { fastCheck: { numRuns: 60 } }
  )
})
