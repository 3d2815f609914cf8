/**
 * `SendSlots`: slots lent without an Effect, with a line for connections that find none.
 */
import { RegisteredIo } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { SendSlots } from "../src/internal/outbox.js"

describe("SendSlots", () => {
  layer(RioTest.layer())((it) => {
    it.scoped("a line of 10,000 that each give the slot straight back: served in order, no deep stack", () =>
      Effect.gen(function*() {
        const slots = new SendSlots(yield* RegisteredIo.allocateBuffer(64), 64, 1)
        const first = slots.take(() => assert.fail("a free slot is lent at once"))
        assert.strictEqual(first, 0)
        const served: Array<number> = []
        // Each gives the slot back from inside its hand-over, as an outbox whose batch is only
        // an end does: by recursion this would be 10,000 calls deep.
        for (let i = 0; i < 10_000; i++) {
          assert.isUndefined(slots.take((slot) => {
            served.push(i)
            slots.give(slot)
          }))
        }
        slots.give(first!)
        assert.strictEqual(served.length, 10_000)
        assert.deepStrictEqual(served.slice(0, 3), [0, 1, 2])
        assert.strictEqual(served[9_999], 9_999)
        assert.strictEqual(slots.take(() => assert.fail("the slot is free again")), 0)
      }))
  })
})
