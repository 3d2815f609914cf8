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
import { readdirSync, readFileSync } from "node:fs"

/** Pages the kernel has pinned for this process (VmPin), in KiB; 0 where there is no /proc. */
export const vmPinKiB = (): number => {
  if (process.platform !== "linux") return 0
  const match = /^VmPin:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))
  return match === null ? 0 : Number(match[1])
}

/** This process's open file descriptors once pending closes have run; 0 where there is no /proc. */
export const settledFds: Effect.Effect<number> = Effect.zipRight(
  Effect.sleep("20 millis"),
  Effect.sync(() => process.platform === "linux" ? readdirSync("/proc/self/fd").length : 0)
)

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

type BatchCall = {
  readonly kind: "receiveMany" | "withReceived" | "sendMany"
  readonly interruptAfter: number | undefined
}

/** Up to 16 batch calls, each maybe interrupted 0..3 ms after it starts. */
export const batchCalls: FastCheck.Arbitrary<Array<BatchCall>> = FastCheck.array(
  FastCheck.record({
    kind: FastCheck.constantFrom("receiveMany" as const, "withReceived" as const, "sendMany" as const),
    interruptAfter: FastCheck.option(FastCheck.integer({ min: 0, max: 3 }), { nil: undefined })
  }),
  { minLength: 1, maxLength: 16 }
)

/** What the batch calls run on: a receiving socket, one batch of sends, and the sends' registration. */
export interface BatchSockets {
  readonly receiver: {
    readonly receiveMany: (max?: number) => Effect.Effect<ReadonlyArray<unknown>, unknown, Scope.Scope>
    readonly withReceived: (
      use: (batch: ReadonlyArray<unknown>) => Effect.Effect<void>,
      max?: number
    ) => Effect.Effect<void, unknown>
  }
  readonly sendMany: Effect.Effect<unknown, unknown>
  readonly inFlight: () => number
}

/**
 * Forks each call (a receive of up to 2 that keeps its batch 1 ms, or the batch of sends),
 * interrupting those the plan says, then interrupts the rest: afterwards, and once `sockets`
 * (which made them) has closed, every registration and pinned page is back where it was.
 */
export const leavesNothingBehind = (
  calls: ReadonlyArray<
    { readonly kind: "receiveMany" | "withReceived" | "sendMany"; readonly interruptAfter: number | undefined }
  >,
  sockets: Effect.Effect<BatchSockets, unknown, Scope.Scope | RegisteredIo.RegisteredIo>
) =>
  Effect.gen(function*() {
    const io = yield* RegisteredIo.RegisteredIo
    const before = yield* io.stats
    const pinned = vmPinKiB()
    yield* Effect.scoped(Effect.gen(function*() {
      const { inFlight, receiver, sendMany } = yield* sockets
      const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      for (const call of calls) {
        const run: Effect.Effect<unknown, unknown> = call.kind === "sendMany"
          ? sendMany
          : call.kind === "receiveMany"
          ? Effect.scoped(Effect.zipRight(receiver.receiveMany(2), Effect.sleep("1 millis")))
          : receiver.withReceived(() => Effect.sleep("1 millis"), 2)
        fibers.push(yield* forkMaybeInterrupted(run, call.interruptAfter))
      }
      yield* Fiber.interruptAll(fibers)
      assert.strictEqual(inFlight(), 0)
    }))
    assert.deepStrictEqual(yield* io.stats, before)
    assert.strictEqual(vmPinKiB(), pinned)
  })
