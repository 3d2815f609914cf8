/**
 * What Effect itself costs, measured in the same run: the cheapest safe bracket around a
 * no-op (`Effect.onExit`) and an empty `Effect.scoped`. No wrapper can go below these.
 */
import * as Effect from "effect/Effect"
import type { Figure, Plan } from "./measure.js"
import { timeEffect } from "./measure.js"

export interface Floors {
  readonly onExit: Figure
  readonly scopedVoid: Figure
}

export const floors = (plan: Plan): Effect.Effect<Floors> =>
  Effect.gen(function*() {
    const noop = () => Effect.void
    return {
      onExit: yield* timeEffect("Effect.onExit(no-op)", plan, () => Effect.onExit(Effect.void, noop)),
      scopedVoid: yield* timeEffect("Effect.scoped(Effect.void)", plan, () => Effect.scoped(Effect.void))
    }
  })
