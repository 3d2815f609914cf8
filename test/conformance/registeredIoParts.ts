/**
 * The parts of the `RegisteredIo` conformance suites: the service's stats, an operation's outcome
 * as its error tag, and a detached buffer.
 */
import { RegisteredIo } from "@effect-rio/core"
import * as Effect from "effect/Effect"

export const stats = Effect.flatMap(RegisteredIo.RegisteredIo, (io) => io.stats)

/** Runs `effect` and returns the tag of its failure, or "success". */
export const outcome = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.match(effect, { onFailure: (error) => error._tag, onSuccess: () => "success" })

export const scopedOutcome = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  outcome(Effect.scoped(effect))

export const detachedBuffer = (): ArrayBuffer => {
  const buffer = new ArrayBuffer(64)
  structuredClone(buffer, { transfer: [buffer] })
  return buffer
}
