/**
 * `RegisteredIo` conformance on every backend: releasing registrations — exactly once, only
 * after the last token, under interruption at any point.
 */
import { RegisteredIo, RioError } from "@effect-rio/core"
import { assert, describe } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { describeBackends } from "./describeBackends.js"
import { outcome } from "./registeredIoParts.js"

describeBackends("conformance", (it) => {
  describe("release", () => {
    it.effect("release waits until the last token returns", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        const scope = yield* Scope.make()
        const registration = yield* Scope.extend(RegisteredIo.registerBuffer(new Uint8Array(256)), scope)
        yield* registration.acquireToken
        yield* registration.acquireToken
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.isNull(closing.unsafePoll())
        assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1)
        assert.strictEqual(yield* outcome(registration.acquireToken), "WSAEINVAL")
        yield* registration.releaseToken
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.isNull(closing.unsafePoll())
        yield* registration.releaseToken
        yield* Fiber.join(closing)
        assert.deepStrictEqual(yield* io.stats, before)
      }))

    it.effect("a release interrupted while it waits for tokens still deregisters when the last one returns", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        const held = yield* Deferred.make<RegisteredIo.Registration>()
        // The owner's scope closes while another holder (here, this fiber) keeps a token...
        const owner = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(64))
          yield* registration.acquireToken
          yield* Deferred.succeed(held, registration)
        })))
        const registration = yield* Deferred.await(held)
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        // ...and the owner is interrupted while its release waits.
        const interrupting = yield* Effect.fork(Fiber.interrupt(owner))
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1, "a token is out")
        yield* registration.releaseToken
        yield* Fiber.join(interrupting)
        assert.deepStrictEqual(yield* io.stats, before)
      }))

    it.effect("releaseTimeout: a token kept past the bound ends the release in WSAETIMEDOUT, still registered", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        const scope = yield* Scope.make()
        const registration = yield* Scope.extend(
          RegisteredIo.registerBuffer(new Uint8Array(256), {
            releaseTimeout: "500 millis",
            label: "the test's buffer"
          }),
          scope
        )
        yield* registration.acquireToken
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust("500 millis")
        const exit = yield* Fiber.await(closing)
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(defect) && defect.value instanceof RioError.WSAETIMEDOUT)
        assert.include((defect as Option.Some<RioError.WSAETIMEDOUT>).value.message, "the test's buffer")
        assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1)
        assert.strictEqual(yield* outcome(registration.slice(0, 1)), "WSAEINVAL")
        yield* registration.releaseToken
        assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1, "left pinned")
      }))

    it.effect("withBuffer releases after success, failure and defect, without a Scope", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        const value = yield* RegisteredIo.withBuffer(new Uint8Array(64), (registration) =>
          Effect.succeed(registration.byteLength))
        assert.strictEqual(value, 64)
        assert.strictEqual(
          yield* outcome(RegisteredIo.withBuffer(new Uint8Array(64), () =>
            Effect.fail({ _tag: "Boom" as const }))),
          "Boom"
        )
        const defect = yield* Effect.exit(RegisteredIo.withBuffer(new Uint8Array(64), () => Effect.die("bug")))
        assert.isTrue(Exit.isFailure(defect))
        assert.deepStrictEqual(yield* io.stats, before)
        assert.strictEqual(yield* outcome(RegisteredIo.withBuffer(new Uint8Array(0), () => Effect.void)), "WSAEINVAL")
      }))

    it.effect("withBuffer waits for tokens handed out inside use", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        const done = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(RegisteredIo.withBuffer(new Uint8Array(64), (registration) =>
          Effect.gen(function*() {
            yield* registration.acquireToken
            // The "completion" arrives later, on another fiber.
            yield* Effect.fork(Effect.zipRight(Deferred.await(done), registration.releaseToken))
          })))
        for (let i = 0; i < 20; i++) {
          yield* Effect.yieldNow()
        }
        assert.isNull(fiber.unsafePoll())
        yield* Deferred.succeed(done, undefined)
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(yield* io.stats, before)
      }))

    it.effect.prop(
      "stats return to their starting values after interruption at any point",
      [
        FastCheck.integer({ min: 0, max: 40 }),
        FastCheck.array(FastCheck.integer({ min: 0, max: 3 }), { maxLength: 6 })
      ],
      ([interruptAfter, steps]) =>
        Effect.gen(function*() {
          const io = yield* RegisteredIo.RegisteredIo
          const before = yield* io.stats
          const stepEffects: ReadonlyArray<
            Effect.Effect<unknown, unknown, RegisteredIo.RegisteredIo | Scope.Scope>
          > = [
            RegisteredIo.registerBuffer(new Uint8Array(300)),
            RegisteredIo.allocateBuffer(io.pageSize + 1),
            RegisteredIo.withBuffer(new Uint8Array(100), (registration) => registration.withToken(Effect.yieldNow())),
            Effect.flatMap(
              RegisteredIo.registerBuffer(new Uint8Array(50)),
              (registration) => registration.withToken(Effect.yieldNow())
            )
          ]
          const program = Effect.scoped(
            Effect.forEach(steps, (step) => Effect.zipRight(Effect.yieldNow(), stepEffects[step]!), { discard: true })
          )
          const fiber = yield* Effect.fork(program)
          for (let i = 0; i < interruptAfter; i++) yield* Effect.yieldNow()
          yield* Fiber.interrupt(fiber)
          assert.deepStrictEqual(yield* io.stats, before)
        }),
      { fastCheck: { numRuns: 1000 } }
    )
  })
})
