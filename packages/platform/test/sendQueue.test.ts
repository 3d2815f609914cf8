/**
 * The queue between a socket's writers and its sender: bounded like `Queue.bounded`
 * (`Socket.currentSendQueueCapacity`), in order, each writer told its own outcome, and
 * nobody left waiting once it closes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { SendQueue } from "../src/internal/sendQueue.js"

/** Lets every fiber that can run, run. */
const settle = Effect.repeatN(Effect.yieldNow(), 10)

describe("SendQueue", () => {
  it.effect("writes are taken in order, in batches; each writer completes when its write is settled", () =>
    Effect.gen(function*() {
      const queue = new SendQueue<string, string>(8)
      const writers = yield* Effect.forEach(["a", "b", "c"], (chunk) => Effect.fork(queue.offer(chunk)))
      yield* settle
      const batch = queue.takeNow()
      assert.deepStrictEqual(batch.map((item) => item.chunk), ["a", "b", "c"])
      assert.isNull(writers[0].unsafePoll(), "a writer waits until its write is settled")
      batch[0].settle(Effect.void)
      batch[1].settle(Effect.fail("refused"))
      batch[2].settle(Effect.void)
      assert.deepStrictEqual(yield* Fiber.await(writers[0]), Exit.void)
      assert.deepStrictEqual(yield* Fiber.await(writers[1]), Exit.fail("refused"))
      assert.deepStrictEqual(yield* Fiber.await(writers[2]), Exit.void)
    }))

  it.effect("a waiting taker is woken by the first write, once", () =>
    Effect.gen(function*() {
      const queue = new SendQueue<string, string>(8)
      let woken = 0
      queue.onReady(() => woken++)
      yield* settle
      assert.strictEqual(woken, 0)
      yield* Effect.fork(queue.offer("a"))
      yield* Effect.fork(queue.offer("b"))
      yield* settle
      assert.strictEqual(woken, 1)
      assert.deepStrictEqual(queue.takeNow().map((item) => item.chunk), ["a", "b"])
      assert.deepStrictEqual(queue.takeNow(), [])
    }))

  it.effect("full, a writer waits for room; interrupted while waiting, its write is withdrawn", () =>
    Effect.gen(function*() {
      const queue = new SendQueue<string, string>(2)
      yield* Effect.fork(queue.offer("a"))
      yield* Effect.fork(queue.offer("b"))
      const withdrawn = yield* Effect.fork(queue.offer("withdrawn"))
      yield* Effect.fork(queue.offer("c"))
      yield* settle
      yield* Fiber.interrupt(withdrawn)
      assert.deepStrictEqual(queue.takeNow().map((item) => item.chunk), ["a", "b"])
      // The room made went to the writer waiting for it.
      assert.deepStrictEqual(queue.takeNow().map((item) => item.chunk), ["c"])
    }))

  it.effect("once queued, a write is sent even if its writer stops waiting", () =>
    Effect.gen(function*() {
      const queue = new SendQueue<string, string>(2)
      const writer = yield* Effect.fork(queue.offer("a"))
      yield* settle
      yield* Fiber.interrupt(writer)
      const batch = queue.takeNow()
      assert.deepStrictEqual(batch.map((item) => item.chunk), ["a"])
      batch[0].settle(Effect.void)
    }))

  it.effect("the writer's release goes past the bound, behind the writes waiting for room", () =>
    Effect.gen(function*() {
      const queue = new SendQueue<string, string>(1)
      yield* Effect.fork(queue.offer("a"))
      yield* Effect.fork(queue.offer("b"))
      yield* settle
      queue.unsafeOfferUnbounded("end")
      assert.deepStrictEqual(queue.takeNow().map((item) => item.chunk), ["a"])
      assert.deepStrictEqual(queue.takeNow().map((item) => item.chunk), ["b"])
      assert.deepStrictEqual(queue.takeNow().map((item) => item.chunk), ["end"])
    }))

  it.effect("closing fails the queued writes, the waiting ones and every later one", () =>
    Effect.gen(function*() {
      const queue = new SendQueue<string, string>(1)
      const queued = yield* Effect.fork(queue.offer("a"))
      const waiting = yield* Effect.fork(queue.offer("b"))
      yield* settle
      queue.close("closed")
      assert.deepStrictEqual(yield* Fiber.await(queued), Exit.fail("closed"))
      assert.deepStrictEqual(yield* Fiber.await(waiting), Exit.fail("closed"))
      assert.deepStrictEqual(yield* Effect.exit(queue.offer("c")), Exit.fail("closed"))
    }))
})
