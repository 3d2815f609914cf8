/**
 * `RioTest`: the in-memory test double of `RegisteredIo`. Same validation and errors as
 * the real backends (it shares their core), a simulated page-aligned address space so
 * footprints are truthful, and a `Control` service to inject faults and inspect state.
 *
 * @since 0.1.0
 */
import type * as BufferId from "@effect-rio/core/BufferId"
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import type * as RioError from "@effect-rio/core/RioError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Double } from "./internal/double.js"
import { faulty } from "./internal/faulty.js"

/**
 * What one end of an open TCP connection of the simulated network has moved.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectionBytes {
  readonly local: RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress
  readonly remote: RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress
  /** Bytes this end has sent. */
  readonly sent: number
  /** Bytes this end has received. */
  readonly received: number
}

/**
 * One native call the double saw, with its outcome.
 *
 * @since 0.1.0
 * @category models
 */
export interface HistoryEntry {
  readonly operation: Operation
  /** `"ok"`, `"injected"` (a fault from {@link ControlService}) or the tag of the error it returned. */
  readonly outcome: "ok" | "injected" | RioError.RioError["_tag"]
  readonly id?: BufferId.BufferId
  readonly length?: number
}

/**
 * A registration the simulated kernel holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface LiveRegistration {
  readonly id: BufferId.BufferId
  readonly address: bigint
  readonly length: number
  /** Pages it locks (every page the range touches). */
  readonly pages: number
}

/**
 * The native calls that faults and latency attach to.
 *
 * @since 0.2.0
 * @category models
 */
export type Operation = "registerBuffer" | "deregisterBuffer" | "allocate" | "free"

/**
 * Options of the double.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default 4096. */
  readonly pageSize?: number
  /**
   * The largest registration; longer is `WSAEINVAL`. Default 1 GiB, io_uring's limit, the
   * strictest real backend's (Winsock RIO takes up to a DWORD, 0xFFFFFFFF bytes).
   */
  readonly maxBufferLength?: number
  /** Registrations at once, an integer or `Infinity` (default 16384); one more is `WSAENOBUFS`. */
  readonly maxRegistrations?: number
  /** Bytes that registrations may lock, like RLIMIT_MEMLOCK (default unlimited); past it `WSAENOBUFS`. */
  readonly lockedMemoryLimit?: number
  /**
   * How many network completions one reap delivers before the next is scheduled (default
   * unlimited), like a real completion queue's size.
   */
  readonly completionQueueSize?: number
}

/**
 * Misuse the double detected, such as a deregistration with I/O outstanding.
 *
 * @since 0.1.0
 * @category models
 */
export interface Violation {
  readonly _tag: "DeregisteredWithIoOutstanding"
  readonly id: BufferId.BufferId
  /** Tokens outstanding when it was deregistered. */
  readonly inFlight: number
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
  /** Removes every fault and latency, network faults included. */
  readonly reset: Effect.Effect<void>
  /** Registrations the simulated kernel holds now. */
  readonly registrations: Effect.Effect<ReadonlyArray<LiveRegistration>>
  /** Pages the simulated kernel has locked now. */
  readonly lockedPages: Effect.Effect<number>
  /** Every native call in order, with its outcome (validation failures never reach it). */
  readonly history: Effect.Effect<ReadonlyArray<HistoryEntry>>
  /** Misuse the double saw, such as a deregistration with I/O outstanding. */
  readonly violations: Effect.Effect<ReadonlyArray<Violation>>
  /** The next `n` datagrams sent anywhere in the simulated network are lost. */
  readonly dropDatagrams: (n: number) => Effect.Effect<void>
  /** The next `n` datagrams sent are delivered twice. */
  readonly duplicateDatagrams: (n: number) => Effect.Effect<void>
  /** The next `n` datagrams sent are held, then delivered in reverse order once all `n` are held. */
  readonly reorderDatagrams: (n: number) => Effect.Effect<void>
  /** The next `n` datagrams sent arrive after `latency` of real time (a timer, not the Clock). */
  readonly delayDatagrams: (n: number, latency: Duration.DurationInput) => Effect.Effect<void>
  /** Resets every open TCP connection: pending and later operations on both ends fail with WSAECONNRESET. */
  readonly resetConnections: Effect.Effect<void>
  /** Each TCP send moves and each receive returns at most `bytes` (short I/O); undefined lifts the limit. */
  readonly limitChunk: (bytes: number | undefined) => Effect.Effect<void>
  /** Datagrams sent and not yet received: queued at sockets, held or delayed by faults. */
  readonly datagramsInFlight: Effect.Effect<number>
  /** Bytes sent and received by each end of every open TCP connection. */
  readonly connectionBytes: Effect.Effect<ReadonlyArray<ConnectionBytes>>
  /**
   * Network operations started whose `done` has not run yet; a stream receiving through shared
   * slots counts as one until its receiving has closed (as an armed multishot receive would).
   */
  readonly outstandingOperations: Effect.Effect<number>
}

/**
 * The tag of the double's fault injection and inspection, provided by {@link layer}.
 *
 * @since 0.1.0
 * @category tags
 */
export class Control extends Context.Tag("@effect-rio/testing/RioTest/Control")<Control, ControlService>() {}

const positive = (name: string, n: number, apply: () => void): Effect.Effect<void> =>
  Effect.suspend(() =>
    Number.isInteger(n) && n > 0 ? Effect.sync(apply) : Effect.dieMessage(`${name} needs a positive integer, got ${n}`)
  )

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
  violations: Effect.sync(() => double.violations.slice()),
  dropDatagrams: (n) => positive("dropDatagrams", n, () => double.network.dropDatagrams(n)),
  duplicateDatagrams: (n) => positive("duplicateDatagrams", n, () => double.network.duplicateDatagrams(n)),
  reorderDatagrams: (n) => positive("reorderDatagrams", n, () => double.network.reorderDatagrams(n)),
  delayDatagrams: (n, latency) =>
    Effect.suspend(() => {
      const ms = Duration.toMillis(latency)
      // setTimeout fires at once for delays beyond 2^31-1 ms, which would invert the intent.
      return ms >= 0 && ms <= 0x7FFFFFFF
        ? positive("delayDatagrams", n, () => double.network.delayDatagrams(n, ms))
        : Effect.dieMessage(`delayDatagrams needs a finite latency of at most 2^31-1 ms, got ${ms} ms`)
    }),
  resetConnections: Effect.sync(() => double.network.resetConnections()),
  limitChunk: (bytes) =>
    bytes === undefined
      ? Effect.sync(() => double.network.limitChunk(undefined))
      : positive("limitChunk", bytes, () => double.network.limitChunk(bytes)),
  datagramsInFlight: Effect.sync(() => double.network.datagramsInFlight),
  connectionBytes: Effect.sync(() => double.network.connectionBytes),
  outstandingOperations: Effect.sync(() => double.network.outstandingOperations)
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
