/**
 * The Outbox against a stream of the test's making, so that every turn is in the test's hands:
 * an end or a close needs no send slot (with every slot lent elsewhere, it goes at once and
 * bytes wait for theirs), and a send the kernel took only part of gives its slot back while
 * the connection waits for room, the rest going first once there is some.
 */
import { RegisteredIo } from "@effect-rio/core"
import type { RegisteredSocket, RioBuf } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Outbox, SendSlots } from "../src/internal/outbox.js"
import { SendQueue } from "../src/internal/sendQueue.js"

const END = Symbol("end")
type Chunk = Uint8Array | string | typeof END

/** A stream whose sends take at most `takes()` bytes each and complete when the test says so. */
const makeStream = (registration: RegisteredIo.Registration) => {
  const state = {
    sent: [] as Array<number>,
    takes: (asked: number) => asked,
    pending: [] as Array<() => void>,
    writable: [] as Array<() => void>,
    halfClosed: 0
  }
  const stream = {
    unsafeSendNow: (bufs: ReadonlyArray<RioBuf.RioBuf>, onDone: (error: undefined, sent: number) => void) => {
      const buf = bufs[0]!
      const took = state.takes(buf.length)
      state.pending.push(() => {
        state.sent.push(...registration.bytes.subarray(buf.offset, buf.offset + took))
        onDone(undefined, took)
      })
    },
    unsafeWhenWritable: (onReady: (error: undefined) => void) => state.writable.push(() => onReady(undefined))
  } as unknown as RegisteredSocket.TcpStream
  return { state, stream }
}

const setUp = (slotSize: number) =>
  Effect.gen(function*() {
    const registration = yield* RegisteredIo.allocateBuffer(slotSize)
    const slots = new SendSlots(registration, slotSize, 1)
    const queue = new SendQueue<Chunk, string>(64)
    const { state, stream } = makeStream(registration)
    new Outbox<Chunk, string>(queue, slots, stream, {
      isEnd: (chunk) => chunk === END,
      halfClose: () => {
        state.halfClosed++
        return undefined
      },
      close: () => {},
      failed: (error) => error._tag,
      closedError: () => "closed"
    })
    const outcomes: Array<string> = []
    const write = (chunk: Chunk) =>
      queue.push({
        chunk,
        settle: (outcome) => outcomes.push(Exit.isExit(outcome) && Exit.isSuccess(outcome) ? "ok" : "failed")
      })
    return { slots, state, write, outcomes }
  })

/** Runs the microtasks queued so far: the outbox starts its batch in one. */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe("Outbox", () => {
  layer(RioTest.layer())((it) => {
    it.scoped("an end with every send slot lent elsewhere half-closes at once; bytes wait for a slot", () =>
      Effect.gen(function*() {
        const { outcomes, slots, state, write } = yield* setUp(64)
        const held = slots.take(() => assert.fail("the only slot is free"))!
        write(END)
        yield* turn
        assert.strictEqual(state.halfClosed, 1, "the end did not wait in line for a slot")
        assert.deepStrictEqual(outcomes, ["ok"])
        write(new Uint8Array([1, 2, 3]))
        yield* turn
        assert.deepStrictEqual(state.pending.length, 0, "bytes need a slot")
        slots.give(held)
        yield* turn
        state.pending.shift()!()
        assert.deepStrictEqual(state.sent, [1, 2, 3])
        assert.deepStrictEqual(outcomes, ["ok", "ok"])
      }))

    it.scoped("a send taken only in part: the slot goes back while waiting for room, the rest goes first", () =>
      Effect.gen(function*() {
        const { outcomes, slots, state, write } = yield* setUp(8)
        state.takes = (asked) => Math.min(asked, 3)
        write(new Uint8Array([1, 2, 3, 4, 5]))
        write("ab")
        yield* turn
        state.pending.shift()!()
        assert.deepStrictEqual(state.sent, [1, 2, 3])
        assert.strictEqual(state.writable.length, 1, "it waits for room")
        const lent = slots.take(() => assert.fail("the slot is free while it waits"))
        assert.strictEqual(lent, 0)
        slots.give(lent!)
        assert.deepStrictEqual(outcomes, [], "no write went whole yet")
        state.takes = (asked) => asked
        state.writable.shift()!()
        state.pending.shift()!()
        assert.deepStrictEqual(state.sent, [1, 2, 3, 4, 5, 97, 98])
        assert.deepStrictEqual(outcomes, ["ok", "ok"])
      }))
  })
})
