/**
 * Issue 3's benchmark: one register+deregister pair on the Linux backend, for 4 KiB and
 * 64 KiB of page-aligned memory: (a) Koffi straight onto io_uring_register, no Effect;
 * (b) `RegisteredIo.withBuffer`; (c) `Effect.scoped(RegisteredIo.registerBuffer(...))`.
 */
import { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import * as Effect from "effect/Effect"
import { DirectUring } from "./linux-baseline.js"
import type { Figure, Plan } from "./measure.js"
import { timeEffects, timeSync } from "./measure.js"

export interface RegistrationRow {
  readonly size: string
  readonly direct: Figure
  readonly withBuffer: Figure
  readonly scoped: Figure
  /** Effect.onExit around a no-op: the cheapest safe bracket. */
  readonly floor: Figure
  /** Effect.scoped(Effect.void): what any scoped form pays before doing anything. */
  readonly scopedFloor: Figure
}

export const registration = (plan: Plan): Effect.Effect<ReadonlyArray<RegistrationRow>, unknown> =>
  Effect.gen(function*() {
    const io = yield* RegisteredIo.RegisteredIo
    const rows: Array<RegistrationRow> = []
    // The same table size as the layer's, so both pay the kernel the same per-update cost.
    const direct = new DirectUring(16384)
    try {
      for (const [size, bytes] of [["4 KiB", 4096], ["64 KiB", 65536]] as const) {
        const memory = yield* io.rawAllocate(bytes)
        const address = yield* Effect.scoped(Effect.map(RegisteredIo.registerBuffer(memory), (r) => r.address))
        const use = () => Effect.void
        const timed = yield* timeEffects(plan, {
          floor: () => Effect.onExit(Effect.void, use),
          withBuffer: () => RegisteredIo.withBuffer(memory, use),
          scoped: () => Effect.scoped(RegisteredIo.registerBuffer(memory)),
          scopedFloor: () => Effect.scoped(Effect.void)
        })
        rows.push({
          size,
          direct: timeSync("(a) direct Koffi", plan, () => direct.registerDeregister(address, bytes)),
          ...timed
        })
        yield* io.rawFree(memory)
      }
    } finally {
      direct.close()
    }
    return rows
  }).pipe(Effect.provide(KoffiRio.layerLinux()))
