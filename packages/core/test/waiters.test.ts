/**
 * The line of fibers waiting for a ring's news: interrupted waiters register no canceller, so
 * the line must neither lose a live waiter nor grow without end.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { Waiters } from "../src/internal/batches.js"

describe("Waiters", () => {
  it.effect("news wakes every waiter once; without news none resumes", () =>
    Effect.gen(function*() {
      let news = false
      const waiters = new Waiters(() => news)
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(waiters.await))
      yield* Effect.yieldNow()
      assert.isTrue(waiters.some)
      assert.isTrue(fibers.every((fiber) => fiber.unsafePoll() === null), "no news yet")
      news = true
      waiters.wakeAll()
      yield* Fiber.joinAll(fibers)
      assert.isFalse(waiters.some)
    }))

  it.effect("interrupted waits on a quiet ring: the 1,024th waiter cuts the line; a live one wakes, waits again, hears the news", () =>
    Effect.gen(function*() {
      let news = false
      const waiters = new Waiters(() => news)
      for (let i = 0; i < 1_023; i++) {
        const fiber = yield* Effect.fork(waiters.await)
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
      }
      let wakes = 0
      const live = yield* Effect.fork(Effect.forever(Effect.zipRight(
        waiters.await,
        Effect.suspend(() => {
          wakes++
          return news ? Effect.fail("heard" as const) : Effect.void
        })
      )))
      yield* Effect.yieldNow()
      assert.strictEqual(wakes, 1, "the full line was woken: the live waiter found nothing and waits again")
      assert.isNull(live.unsafePoll())
      news = true
      waiters.wakeAll()
      assert.strictEqual(yield* Effect.flip(Fiber.join(live)), "heard")
      assert.strictEqual(wakes, 2)
    }))
})
