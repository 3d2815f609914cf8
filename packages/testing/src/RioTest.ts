/**
 * `RioTest`: the in-memory test double of `RegisteredIo`. Same validation and errors as
 * the real backends (it shares their core), a simulated page-aligned address space so
 * footprints are truthful, and a `Control` service to inject faults and inspect state.
 *
 * @since 0.1.0
 */
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RioError from "@effect-rio/core/RioError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { HistoryEntry, LiveRegistration, Operation, Options, Violation } from "./internal/double.js"
import { Double } from "./internal/double.js"
import { faulty } from "./internal/faulty.js"

export type {
  /**
   * @since 0.1.0
   * @category models
   */
  HistoryEntry,
  /**
   * @since 0.1.0
   * @category models
   */
  LiveRegistration,
  /**
   * The native calls that faults and latency attach to.
   *
   * @since 0.2.0
   * @category models
   */
  Operation,
  /**
   * Options of the double: `pageSize` (4096), `maxBufferLength` (a DWORD),
   * `maxRegistrations` (16384, then WSAENOBUFS) and `lockedMemoryLimit` in bytes
   * (unlimited; models RLIMIT_MEMLOCK).
   *
   * @since 0.1.0
   * @category models
   */
  Options,
  /**
   * @since 0.1.0
   * @category models
   */
  Violation
}

/**
 * Fault injection and inspection of the double.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlService {
  /** The next call of `operation` fails with `error` (before validation, like a kernel fault). */
  readonly failNext: (operation: Operation, error: RioError.RioError) => Effect.Effect<void>
  /** Every `n`th call of `operation` fails with `error`. */
  readonly failEvery: (operation: Operation, n: number, error: RioError.RioError) => Effect.Effect<void>
  /** Every call of `operation` first sleeps `latency` (interruptibly, on the Clock: use TestClock). */
  readonly setLatency: (operation: Operation, latency: Duration.DurationInput) => Effect.Effect<void>
  /** Removes every fault and latency. */
  readonly reset: Effect.Effect<void>
  /** Registrations the simulated kernel holds now. */
  readonly registrations: Effect.Effect<ReadonlyArray<LiveRegistration>>
  /** Pages the simulated kernel has locked now. */
  readonly lockedPages: Effect.Effect<number>
  /** Every native call in order, with its outcome (validation failures never reach it). */
  readonly history: Effect.Effect<ReadonlyArray<HistoryEntry>>
  /** Misuse the double saw, such as a deregistration with I/O outstanding. */
  readonly violations: Effect.Effect<ReadonlyArray<Violation>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Control extends Context.Tag("@effect-rio/testing/RioTest/Control")<Control, ControlService>() {}

const makeControl = (double: Double): ControlService => ({
  failNext: (operation, error) => Effect.sync(() => double.failNext(operation, error)),
  failEvery: (operation, n, error) =>
    Effect.suspend(() =>
      Number.isInteger(n) && n > 0
        ? Effect.sync(() => double.failEvery(operation, n, error))
        : Effect.dieMessage(`failEvery needs a positive integer, got ${n}`)
    ),
  setLatency: (operation, latency) => Effect.sync(() => double.setLatency(operation, latency)),
  reset: Effect.sync(() => double.reset()),
  registrations: Effect.sync(() => Array.from(double.live.values())),
  lockedPages: Effect.sync(() => double.lockedPages),
  history: Effect.sync(() => double.history.slice()),
  violations: Effect.sync(() => double.violations.slice())
})

/**
 * The double as a layer: `RegisteredIo` plus its `Control`. Each build is a fresh,
 * deterministic simulated kernel, served by the same core as the real backends
 * (`RegisteredIo.make`) with the faults wrapped around the service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<RegisteredIo.RegisteredIo | Control> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const double = new Double(options)
      const service = faulty(yield* RegisteredIo.makeScoped(double.driver), double)
      return Context.make(RegisteredIo.RegisteredIo, service).pipe(Context.add(Control, makeControl(double)))
    })
  )
