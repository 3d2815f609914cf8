/**
 * TCP receive slots on io_uring, below the core: one multishot RECV per stream into a
 * provided-buffer ring that the streams of a set share, driven through the driver directly
 * against `node:net` peers. Every byte is checked, in order; running out of slots, pausing,
 * closing and the layer's teardown are shown at the sink.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { randomBytes } from "node:crypto"
import * as LinuxDriver from "../../src/internal/linux/driver.js"
import {
  closeAll,
  closeReceiver,
  closeSet,
  connection,
  drainAll,
  listener,
  MECHANISM,
  oneStream,
  openSlots,
  receive,
  recorder,
  stream,
  until,
  write
} from "./streamRingParts.js"

describe("LinuxDriver TCP receive slots (multishot RECV into provided buffers)", () => {
  it.live("1 MiB through 16 slots of 1 KiB: every byte in order, then the peer's end is end(undefined)", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client, driver, receiver, record, set, socket } = yield* oneStream(1024, 16, "flush")
      assert.strictEqual(set.slots.mechanism, MECHANISM)
      const sent = randomBytes(1 << 20)
      client.end(sent)
      yield* until(() => record.state.ends > 0, "the end of the stream")
      assert.isUndefined(record.state.error)
      assert.strictEqual(record.state.ends, 1)
      assert.isTrue(record.bytes().equals(sent), `${record.received()} bytes received intact, in order`)
      assert.isAbove(record.chunks.length, 1024 - 1)
      assert.isAbove(record.state.flushes, 0)
      assert.strictEqual(closeReceiver(driver, receiver, socket).done, 1, "an ended stream closes at once")
      yield* closeSet(set)
    })))

  it.live("a peer that resets the connection ends the stream with WSAECONNRESET", () =>
    Effect.scoped(Effect.gen(function*() {
      const { client, driver, receiver, record, set, socket } = yield* oneStream(512, 8, "flush")
      yield* write(client, Buffer.from("hello"))
      yield* until(() => record.received() === 5, "the first bytes")
      client.resetAndDestroy()
      yield* until(() => record.state.ends > 0, "the end of the stream")
      assert.strictEqual(record.state.error?._tag, "WSAECONNRESET")
      assert.include(record.state.error?.message, "multishot RECV")
      assert.strictEqual(record.bytes().toString(), "hello")
      yield* closeAll(driver, set, { receiver, socket })
    })))

  it.live("with every slot held the stream starves (data stops); recycling them brings the rest, intact, in order", () =>
    Effect.scoped(Effect.gen(function*() {
      const opened = yield* oneStream(256, 4)
      const { client, record } = opened
      const sent = randomBytes(64 * 1024)
      yield* write(client, sent)
      yield* until(() => record.held.length === 4, "four chunks")
      yield* Effect.sleep("30 millis")
      assert.strictEqual(record.held.length, 4, "no fifth chunk without a slot")
      assert.strictEqual(record.received(), 1024)
      yield* drainAll(record, sent.length)
      assert.isTrue(record.bytes().equals(sent))
      assert.strictEqual(record.state.ends, 0)
      yield* closeAll(opened.driver, opened.set, opened)
    })))

  it.live("two streams share 4 slots that come back late: both starve and recover, each intact and in order", () =>
    Effect.scoped(Effect.gen(function*() {
      const { driver, server, set, ...first } = yield* oneStream(512, 4, "late")
      const streams = [first, yield* stream(driver, server, set, "late")]
      const sent = streams.map(() => randomBytes(256 * 1024))
      streams.forEach(({ client }, i) => client.end(sent[i]))
      yield* until(() => streams.every(({ record }) => record.state.ends > 0), "both ends", 20_000)
      streams.forEach(({ record }, i) => {
        assert.isUndefined(record.state.error)
        assert.isTrue(record.bytes().equals(sent[i]!), `stream ${i}: ${record.received()} bytes intact, in order`)
      })
      yield* Effect.sleep("5 millis")
      yield* closeAll(driver, set, ...streams)
    })))

  it.live("pause (from deliver, as the core does) stops delivery; resume continues with nothing lost", () =>
    Effect.scoped(Effect.gen(function*() {
      const opened = yield* oneStream(1024, 8, "flush")
      const { client, receiver, record } = opened
      let paused = false
      record.state.onDeliver = (received) => {
        if (!paused && received >= 16 * 1024) {
          paused = true
          receiver.pause()
        }
      }
      const sent = randomBytes(256 * 1024)
      yield* write(client, sent.subarray(0, 64 * 1024))
      yield* until(() => paused, "the pause")
      // Whatever completed before the cancel took hold is delivered; then nothing.
      yield* Effect.sleep("20 millis")
      const whilePaused = record.received()
      assert.isBelow(whilePaused, 64 * 1024, "the socket holds the rest")
      yield* write(client, sent.subarray(64 * 1024))
      yield* Effect.sleep("30 millis")
      assert.strictEqual(record.received(), whilePaused, "nothing arrives while paused")
      receiver.resume()
      yield* until(() => record.received() === sent.length, "every byte")
      assert.isTrue(record.bytes().equals(sent))
      assert.strictEqual(record.state.ends, 0, "a cancel for a pause is no error")
      yield* closeAll(opened.driver, opened.set, opened)
    })))

  it.live("a stream whose bytes wait takes at most an eighth of the set per RECV: a pause at its share holds", () =>
    Effect.scoped(Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const server = yield* listener(driver)
      for (const [slots, share, most] of [[8, 2, 2], [64, 12, 16]] as const) {
        const set = yield* openSlots(driver, 64, slots)
        const flood = yield* connection(driver, server)
        // Queued before the RECV is armed: one issue could fill every slot there is.
        yield* write(flood.client, randomBytes(slots * 64))
        yield* Effect.sleep("10 millis")
        const record = recorder(set)
        const receiver = receive(set, flood.socket, record.sink)
        record.state.onDeliver = () => {
          if (record.held.length === share) receiver.pause()
        }
        yield* until(() => record.held.length >= share, "the share")
        yield* Effect.sleep("20 millis")
        assert.isAtMost(record.held.length, most, `${slots} slots: the pause at ${share} acts within one RECV`)
        // The rest of the set still serves another stream.
        const other = yield* stream(driver, server, set, "flush")
        const sent = randomBytes(16 * 1024)
        yield* write(other.client, sent)
        yield* until(() => other.record.received() === sent.length, "the other stream's bytes")
        assert.isTrue(other.record.bytes().equals(sent))
        record.recycle()
        yield* closeAll(driver, set, { receiver, socket: flood.socket }, other)
      }
    })))

  it.live("a starved stream paused leaves the line (recycling does not wake it); resume rejoins it", () =>
    Effect.scoped(Effect.gen(function*() {
      const opened = yield* oneStream(256, 2)
      const { client, receiver, record } = opened
      const sent = randomBytes(8 * 1024)
      yield* write(client, sent)
      yield* until(() => record.held.length === 2, "two chunks")
      yield* Effect.sleep("10 millis")
      receiver.pause()
      record.recycle()
      yield* Effect.sleep("30 millis")
      assert.strictEqual(record.received(), 512, "a paused stream takes no slot")
      receiver.resume()
      yield* drainAll(record, sent.length)
      assert.isTrue(record.bytes().equals(sent))
      yield* closeAll(opened.driver, opened.set, opened)
    })))

  it.live("close while armed: done runs once after the last completion; the fd's next owner receives alone", () =>
    Effect.scoped(Effect.gen(function*() {
      const { driver, server, set, ...first } = yield* oneStream(512, 4)
      yield* write(first.client, Buffer.from("one"))
      yield* until(() => first.record.received() === 3, "the first bytes")
      yield* Effect.sleep("5 millis")
      const closed = closeReceiver(driver, first.receiver, first.socket)
      assert.strictEqual(closed.done, 0, "the armed RECV must end first")
      yield* until(() => closed.done > 0, "the close")
      first.receiver.close(() => closed.done++)
      assert.strictEqual(closed.done, 2, "a second close finishes at once")
      // The slot the stream held comes back as the core would give it back.
      first.record.recycle()
      first.client.write("lost")
      // A new stream: its fd may well be the number the first one had.
      const second = yield* stream(driver, server, set, "flush")
      const sent = randomBytes(32 * 1024)
      yield* write(second.client, sent)
      yield* until(() => second.record.received() === sent.length, "every byte of the second stream")
      assert.isTrue(second.record.bytes().equals(sent))
      assert.strictEqual(first.record.received(), 3, "the closed stream heard nothing more")
      assert.strictEqual(first.record.state.ends, 0)
      yield* closeAll(driver, set, second)
    })))

  it.live("closing while chunks arrive gives their slots back: a later stream still has all of them", () =>
    Effect.scoped(Effect.gen(function*() {
      const { driver, server, set, ...first } = yield* oneStream(256, 4, "flush")
      first.client.write(randomBytes(1 << 20))
      yield* until(() => first.record.received() > 4096, "some chunks")
      const closed = closeReceiver(driver, first.receiver, first.socket)
      yield* until(() => closed.done > 0, "the close")
      first.record.recycle()
      const second = yield* stream(driver, server, set)
      yield* write(second.client, randomBytes(4096))
      // Four chunks without recycling any: every slot is back in the kernel's hands.
      yield* until(() => second.record.held.length === 4, "four chunks")
      yield* drainAll(second.record, 4096)
      yield* closeAll(driver, set, second)
    })))

  it.live("a set closes once its receivers have; recycle afterwards is a no-op; sets open and close again", () =>
    Effect.scoped(Effect.gen(function*() {
      const { driver, receiver, set, socket } = yield* oneStream(512, 4, "flush")
      let setClosed = 0
      set.slots.close(() => setClosed++)
      yield* Effect.sleep("5 millis")
      assert.strictEqual(setClosed, 0, "a live receiver keeps the set")
      const closed = closeReceiver(driver, receiver, socket)
      yield* until(() => closed.done > 0, "the close")
      assert.strictEqual(setClosed, 1)
      set.slots.close(() => setClosed++)
      assert.strictEqual(setClosed, 2, "closing again finishes at once")
      // The buffer ring is unmapped: a recycle must not write to it.
      set.slots.recycle(0)
      for (let round = 0; round < 100; round++) {
        yield* Effect.scoped(Effect.flatMap(openSlots(driver, 256, 2), closeSet))
      }
    })))

  it.live("the layer's teardown ends a live stream (the io_uring is closed); closes afterwards finish at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const driver = yield* Scope.extend(LinuxDriver.make({ slots: 4 }), scope)
      const sockets = yield* Scope.make()
      const set = yield* Scope.extend(openSlots(driver, 512, 4), sockets)
      const server = yield* Scope.extend(listener(driver), sockets)
      const { receiver, record, socket } = yield* Scope.extend(stream(driver, server, set, "flush"), sockets)
      yield* Effect.sleep("5 millis")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(record.state.ends, 1)
      assert.strictEqual(record.state.error?._tag, "RioSystemError")
      assert.include(record.state.error?.message, "closed")
      assert.isAbove(record.state.flushes, 0, "the sink is flushed, so waiting fibers wake")
      assert.strictEqual(closeReceiver(driver, receiver, socket).done, 1)
      let setClosed = false
      set.slots.close(() => {
        setClosed = true
      })
      assert.isTrue(setClosed)
      set.slots.recycle(0)
      receiver.pause()
      receiver.resume()
      assert.strictEqual(record.state.ends, 1)
      assert.instanceOf(set.slots.receive(socket, record.sink), Error)
      assert.instanceOf(driver.net!.tcpReceiveRings!.open(set.region, 512, 4), Error)
      yield* Scope.close(sockets, Exit.void)
    }))

  it.live("with multishot switched off the driver offers no TCP receive slots (the core posts receives)", () =>
    Effect.scoped(Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4, multishot: false })
      assert.isUndefined(driver.net!.tcpReceiveRings)
      assert.isUndefined(driver.net!.udpReceiveRings)
    })))
})
