import { RioError } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Checksummer, layer } from "../src/Checksummer.js"

// The service under test gets the double instead of the kernel: no code change, one layer swapped.
const TestLayer = layer.pipe(Layer.provideMerge(RioTest.layer()))

const enobufs = new RioError.WSAENOBUFS({ operation: "RIORegisterBuffer", message: "injected: out of locked memory" })

describe("Checksummer on RioTest", () => {
  it.effect("sums the staged bytes and releases its registration", () =>
    Effect.gen(function*() {
      const checksummer = yield* Checksummer
      assert.strictEqual(yield* checksummer.stage(new Uint8Array([1, 2, 3, 250])), 256)
      const control = yield* RioTest.Control
      assert.deepStrictEqual(yield* control.registrations, [])
    }).pipe(Effect.provide(TestLayer)))

  it.effect("retries once on WSAENOBUFS", () =>
    Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* control.failNext("registerBuffer", enobufs)
      assert.strictEqual(yield* (yield* Checksummer).stage(new Uint8Array([5])), 5)
      assert.deepStrictEqual((yield* control.history).map((entry) => entry.outcome), ["injected", "ok", "ok"])
    }).pipe(Effect.provide(TestLayer)))

  it.effect("gives up after the retry and surfaces the typed error", () =>
    Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* control.failEvery("registerBuffer", 1, enobufs)
      const error = yield* Effect.flip((yield* Checksummer).stage(new Uint8Array([5])))
      assert.strictEqual(error, enobufs)
    }).pipe(Effect.provide(TestLayer)))

  it.effect("an empty message is WSAEINVAL, straight from validation", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip((yield* Checksummer).stage(new Uint8Array(0)))
      assert.strictEqual(error._tag, "WSAEINVAL")
    }).pipe(Effect.provide(TestLayer)))
})
