/**
 * What a soak phase must leave as it found it: the backend's registrations and pinned pages,
 * the process's open file descriptors and pinned memory, and (on the double) the simulated
 * kernel's operations in flight. Resident memory is bounded rather than equal: V8 keeps what it
 * has grown to.
 */
import { RegisteredIo } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readdirSync, readFileSync } from "node:fs"

/** The counts that must return to where they started. */
export interface Snapshot {
  readonly registrations: number
  readonly registeredBytes: number
  readonly lockedPages: number
  readonly openFds: number
  readonly vmPinKiB: number
  /** The double's operations in flight; 0 on a kernel backend (its in-flight I/O holds tokens, counted by the phases). */
  readonly operationsInFlight: number
}

const vmPinKiB = (): number => {
  const match = /^VmPin:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))
  return match === null ? 0 : Number(match[1])
}

/** Resident memory in MiB, after a full collection when the process allows one (`--expose-gc`). */
export const residentMiB = (): number => {
  globalThis.gc?.()
  return process.memoryUsage.rss() / 2 ** 20
}

export const snapshot: Effect.Effect<Snapshot, never, RegisteredIo.RegisteredIo> = Effect.gen(function*() {
  const stats = yield* (yield* RegisteredIo.RegisteredIo).stats
  const control = yield* Effect.serviceOption(RioTest.Control)
  const operationsInFlight = Option.isSome(control) ? yield* control.value.outstandingOperations : 0
  return {
    registrations: stats.registeredBuffers,
    registeredBytes: stats.registeredBytes,
    lockedPages: stats.lockedPages,
    openFds: readdirSync("/proc/self/fd").length,
    vmPinKiB: vmPinKiB(),
    operationsInFlight
  }
})

/** The fields that differ, as `name before→after`; empty when the phase left everything as it was. */
export const differences = (before: Snapshot, after: Snapshot): ReadonlyArray<string> =>
  (Object.keys(before) as Array<keyof Snapshot>)
    .filter((key) => before[key] !== after[key])
    .map((key) => `${key} ${before[key]}→${after[key]}`)

/**
 * The snapshot once it matches `before`, or the last one after `patience` ms: sockets closed
 * by a scope leave the fd table (and pinned pages leave VmPin) a moment after the scope ends.
 */
export const settled = (
  before: Snapshot,
  patience = 2_000
): Effect.Effect<Snapshot, never, RegisteredIo.RegisteredIo> =>
  Effect.gen(function*() {
    const deadline = Date.now() + patience
    for (;;) {
      const now = yield* snapshot
      if (differences(before, now).length === 0 || Date.now() > deadline) return now
      yield* Effect.sleep("20 millis")
    }
  })
