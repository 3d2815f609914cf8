/**
 * What the socket suites check beside their sockets: the process's pinned memory, and fibers
 * run under random interruption.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
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
