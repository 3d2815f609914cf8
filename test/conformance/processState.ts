/**
 * What the socket suites check beside their sockets: the process's pinned memory, and fibers
 * run under random interruption.
 */
import { RegisteredIo } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"

/** Pages the kernel has pinned for this process (VmPin), in KiB; 0 where there is no /proc. */
export const vmPinKiB = (): number => {
  if (process.platform !== "linux") return 0
  const match = /^VmPin:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))
  return match === null ? 0 : Number(match[1])
}

/** Forks `run` (its failure kept as a value) and, if asked, interrupts it after `interruptAfter` ms. */
export const forkMaybeInterrupted = (
  run: Effect.Effect<unknown, unknown>,
  interruptAfter: number | undefined
): Effect.Effect<Fiber.RuntimeFiber<unknown, unknown>> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.either(run))
    if (interruptAfter !== undefined) {
      yield* Effect.sleep(`${interruptAfter} millis`)
      yield* Fiber.interrupt(fiber)
    }
    return fiber
  })

/** Up to 16 batch calls of `kinds`, each maybe interrupted 0..3 ms after it starts. */
export const batchCalls = <K extends string>(kinds: ReadonlyArray<K>) =>
  FastCheck.array(
    FastCheck.record({
      kind: FastCheck.constantFrom(...kinds),
      interruptAfter: FastCheck.option(FastCheck.integer({ min: 0, max: 3 }), { nil: undefined })
    }),
    { minLength: 1, maxLength: 16 }
  )

/**
 * Forks `run(kind)` for each call, interrupting those the plan says, then interrupts the rest:
 * afterwards, and once `sockets` (which made them) has closed, every registration and pinned
 * page is back where it was.
 */
export const leavesNothingBehind = <K extends string>(
  calls: ReadonlyArray<{ readonly kind: K; readonly interruptAfter: number | undefined }>,
  sockets: Effect.Effect<
    { readonly run: (kind: K) => Effect.Effect<unknown, unknown>; readonly inFlight: () => number },
    unknown,
    Scope.Scope | RegisteredIo.RegisteredIo
  >
) =>
  Effect.gen(function*() {
    const io = yield* RegisteredIo.RegisteredIo
    const before = yield* io.stats
    const pinned = vmPinKiB()
    yield* Effect.scoped(Effect.gen(function*() {
      const { inFlight, run } = yield* sockets
      const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      for (const call of calls) fibers.push(yield* forkMaybeInterrupted(run(call.kind), call.interruptAfter))
      yield* Fiber.interruptAll(fibers)
      assert.strictEqual(inFlight(), 0)
    }))
    assert.deepStrictEqual(yield* io.stats, before)
    assert.strictEqual(vmPinKiB(), pinned)
  })
