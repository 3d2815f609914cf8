/** One part of the soak: a workload run on one backend up to a count or a deadline. */
import type { RegisteredIo } from "@effect-rio/core"
import type * as Effect from "effect/Effect"

export interface PhaseResult {
  /** Units of work done (cycles, datagrams, connections, property runs). */
  readonly done: number
  readonly seconds: number
  /** What went wrong; the phase passed when empty. */
  readonly problems: ReadonlyArray<string>
  /** What the report should say besides the count (faults injected, drops counted). */
  readonly notes: ReadonlyArray<string>
}

export interface Phase {
  readonly name: string
  /** The count of a full soak. */
  readonly target: number
  /** Runs until `target` units are done or the clock passes `deadline` (ms since the epoch). */
  readonly run: (target: number, deadline: number) => Effect.Effect<PhaseResult, unknown, RegisteredIo.RegisteredIo>
}
