import * as CodedError from "@effect-rio/core/CodedError"
import { IdAllocator } from "@effect-rio/core/IdAllocator"
import * as RioError from "@effect-rio/core/RioError"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"

describe("IdAllocator", () => {
  it("hands out the lowest free id first and reuses released ids", () => {
    const ids = new IdAllocator(100)
    assert.deepStrictEqual([ids.take(), ids.take(), ids.take(), ids.take()], [0, 1, 2, 3])
    assert.isTrue(ids.release(2))
    assert.isTrue(ids.release(0))
    assert.strictEqual(ids.take(), 0)
    assert.strictEqual(ids.take(), 2)
    assert.strictEqual(ids.take(), 4)
    assert.strictEqual(ids.size, 5)
  })

  it("stops at its capacity, also across its growth, and frees only what it handed out", () => {
    const ids = new IdAllocator(200)
    for (let i = 0; i < 200; i++) assert.strictEqual(ids.take(), i)
    assert.strictEqual(ids.take(), -1)
    assert.isFalse(ids.release(200))
    assert.isFalse(ids.release(-1))
    assert.isFalse(ids.release(1.5))
    assert.isTrue(ids.release(199))
    assert.isFalse(ids.release(199))
    assert.isFalse(ids.has(199))
    assert.strictEqual(ids.take(), 199)
    assert.strictEqual(ids.take(), -1)
  })

  it("refuses a capacity that is not a non-negative integer", () => {
    for (const capacity of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY]) {
      assert.throws(() => new IdAllocator(capacity), RangeError)
    }
    assert.strictEqual(new IdAllocator(0).take(), -1)
  })

  it.prop(
    "agrees with a lowest-free model under any sequence of takes and releases",
    [fc.array(fc.oneof(fc.constant("take" as const), fc.nat({ max: 80 })), { maxLength: 400 })],
    ([steps]) => {
      const capacity = 70
      const ids = new IdAllocator(capacity)
      const model = new Set<number>()
      for (const step of steps) {
        if (step === "take") {
          let expected = 0
          while (model.has(expected)) expected++
          const got = ids.take()
          if (expected >= capacity) {
            assert.strictEqual(got, -1)
          } else {
            assert.strictEqual(got, expected)
            model.add(got)
          }
        } else {
          assert.strictEqual(ids.release(step), model.delete(step))
        }
        assert.strictEqual(ids.size, model.size)
      }
      for (let id = 0; id < 90; id++) assert.strictEqual(ids.has(id), model.has(id))
    }
  )
})

describe("CodedError.fromCode", () => {
  it("gives each Winsock code its own class and keeps unknown codes", () => {
    for (const [name, code] of Object.entries(RioError.Codes)) {
      if (name === "WSAEOPNOTSUPP") continue
      const error = CodedError.fromCode(code, { operation: "op", message: "m", cause: { errno: 1 } })
      assert.strictEqual(error._tag, name)
      assert.strictEqual(error.code, code)
      assert.strictEqual(error.operation, "op")
      assert.deepStrictEqual(error.cause, { errno: 1 })
    }
    const unknown = CodedError.fromCode(10097, { operation: "op", message: "m" })
    assert.strictEqual(unknown._tag, "RioSystemError")
    assert.strictEqual(unknown.code, 10097)
  })
})
