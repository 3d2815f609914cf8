import { BufferPool, RegisteredIo, RioError } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { Double } from "../src/internal/double.js"

const enobufs = new RioError.WSAENOBUFS({ operation: "RIORegisterBuffer", message: "injected" })

const withDouble = <A, E>(
  effect: Effect.Effect<A, E, RegisteredIo.RegisteredIo | RioTest.Control>,
  options?: RioTest.Options
) => Effect.provide(effect, RioTest.layer(options))

describe("RioTest", () => {
  it.effect("by default refuses what io_uring refuses: one registration over 1 GiB is WSAEINVAL naming the limit", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const GiB = 1024 * 1024 * 1024
      const error = yield* Effect.flip(Effect.scoped(RegisteredIo.allocateBuffer(2 * GiB)))
      assert.strictEqual(error._tag, "WSAEINVAL")
      assert.include(error.message, `limit of ${GiB} bytes per registration`)
      assert.include(error.message, "io_uring")
      const pool = yield* Effect.flip(Effect.scoped(BufferPool.make({ slotSize: GiB, slots: 2 })))
      assert.strictEqual(pool._tag, "WSAEINVAL")
      // Refused before anything was allocated or registered.
      assert.deepStrictEqual(yield* control.registrations, [])
      assert.deepStrictEqual((yield* control.history).filter((entry) => entry.outcome === "ok"), [])
    })))

  it.effect("maxBufferLength models another backend's limit, such as Winsock RIO's DWORD", () =>
    withDouble(
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        assert.strictEqual(io.maxBufferLength, 0xFFFFFFFF)
        const error = yield* Effect.flip(Effect.scoped(RegisteredIo.allocateBuffer(0x1_0000_0000)))
        assert.strictEqual(error._tag, "WSAEINVAL")
      }),
      { maxBufferLength: 0xFFFFFFFF }
    ))

  it.effect("failNext fails exactly the next call, with the error given", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* control.failNext("registerBuffer", enobufs)
      const error = yield* Effect.flip(Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(8))))
      assert.strictEqual(error, enobufs)
      yield* Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(8)))
      const history = yield* control.history
      assert.deepStrictEqual(history.map((entry) => entry.outcome), ["injected", "ok", "ok"])
    })))

  it.effect("failEvery fails every nth call", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* control.failEvery("registerBuffer", 3, enobufs)
      const outcomes: Array<string> = []
      for (let i = 0; i < 9; i++) {
        outcomes.push(
          yield* Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(8))).pipe(
            Effect.match({ onFailure: (error) => error._tag, onSuccess: () => "ok" })
          )
        )
      }
      assert.deepStrictEqual(outcomes, ["ok", "ok", "WSAENOBUFS", "ok", "ok", "WSAENOBUFS", "ok", "ok", "WSAENOBUFS"])
      yield* control.reset
      yield* Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(8)))
    })))

  it.effect("latency runs on the Clock and does not leak when the caller is interrupted", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      const io = yield* RegisteredIo.RegisteredIo
      yield* control.setLatency("registerBuffer", "1 second")
      const fiber = yield* Effect.fork(Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(8))))
      yield* TestClock.adjust("500 millis")
      assert.isNull(fiber.unsafePoll())
      assert.strictEqual((yield* control.registrations).length, 0)
      yield* TestClock.adjust("500 millis")
      yield* Fiber.join(fiber)
      const raw = yield* Effect.fork(io.rawRegisterBuffer(new Uint8Array(8)))
      yield* TestClock.adjust("100 millis")
      yield* Fiber.interrupt(raw)
      assert.strictEqual((yield* io.stats).registeredBuffers, 0)
    })))

  it.effect("validation failures never reach the simulated kernel", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* Effect.flip(Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(0))))
      yield* Effect.flip(Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(4), 5)))
      assert.deepStrictEqual(yield* control.history, [])
    })))

  it.effect("maxRegistrations and lockedMemoryLimit fail with WSAENOBUFS and lose nothing", () =>
    withDouble(
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const ids = [yield* io.rawRegisterBuffer(new Uint8Array(10)), yield* io.rawRegisterBuffer(new Uint8Array(10))]
        const full = yield* Effect.flip(io.rawRegisterBuffer(new Uint8Array(10)))
        assert.strictEqual(full._tag, "WSAENOBUFS")
        assert.include(full.message, "slots")
        yield* io.rawDeregisterBuffer(ids[0]!)
        const tooMuch = yield* Effect.flip(io.rawRegisterBuffer(new Uint8Array(200)))
        assert.strictEqual(tooMuch._tag, "WSAENOBUFS")
        assert.include(tooMuch.message, "locked-memory limit")
        assert.strictEqual((yield* io.stats).registeredBuffers, 1)
        yield* io.rawRegisterBuffer(new Uint8Array(90))
      }),
      { maxRegistrations: 2, lockedMemoryLimit: 100 }
    ))

  it.effect("the registrations it reports match the service's stats, with simulated page-aligned addresses", () =>
    withDouble(
      Effect.gen(function*() {
        const control = yield* RioTest.Control
        yield* Effect.scoped(Effect.gen(function*() {
          const registration = yield* RegisteredIo.allocateBuffer(20_000)
          const live = yield* control.registrations
          assert.strictEqual(live.length, 1)
          assert.strictEqual(live[0]!.address % 16384n, 0n)
          assert.strictEqual(live[0]!.pages, 2)
          assert.strictEqual(yield* control.lockedPages, 2)
          assert.strictEqual(registration.id, live[0]!.id)
        }))
        assert.strictEqual(yield* control.lockedPages, 0)
      }),
      { pageSize: 16384 }
    ))

  it("records a deregistration with I/O outstanding as a violation", () => {
    // The core never does this; the detector is exercised on the driver directly, with a
    // tracked registration that still holds two tokens.
    const double = new Double({})
    const memory = new Uint8Array(64)
    const id = double.driver.register(double.driver.addressOf(memory), 64)
    assert.strictEqual(typeof id, "number")
    double.track({ id: id as RegisteredIo.BufferId, inFlight: 2 })
    double.driver.deregister(id as RegisteredIo.BufferId)
    assert.deepStrictEqual(double.violations, [{ _tag: "DeregisteredWithIoOutstanding", id, inFlight: 2 }])
  })

  it.effect("the core's release leaves no violation even with completions arriving late", () =>
    withDouble(Effect.gen(function*() {
      const control = yield* RioTest.Control
      yield* RegisteredIo.withBuffer(new Uint8Array(64), (registration) =>
        Effect.gen(function*() {
          yield* registration.acquireToken
          yield* Effect.fork(Effect.zipRight(Effect.sleep("10 millis"), registration.releaseToken))
        })).pipe(Effect.fork, Effect.tap(() => TestClock.adjust("10 millis")), Effect.flatMap(Fiber.join))
      assert.deepStrictEqual(yield* control.violations, [])
      assert.strictEqual((yield* control.history).filter((entry) => entry.operation === "deregisterBuffer").length, 1)
    })))
})
