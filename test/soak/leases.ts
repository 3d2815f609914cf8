/**
 * Lease cycles: 64 fibers take and return the 16 slots of one pool as fast as they can (so
 * most takes wait in line), each writing its own mark into its slot and finding it intact
 * before it gives the slot back. Two holders of one slot, or a slot that comes back changed,
 * fail the phase.
 */
import { BufferPool } from "@effect-rio/core"
import type { RegisteredIo } from "@effect-rio/core"
import * as Effect from "effect/Effect"
import type { Phase, PhaseResult } from "./phase.js"

const FIBERS = 64
const SLOTS = 16

export const leases: Phase = {
  name: "lease cycles (64 fibers, 16 slots)",
  target: 1_000_000,
  run: (target, deadline): Effect.Effect<PhaseResult, unknown, RegisteredIo.RegisteredIo> =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 64, slots: SLOTS })
      const holder = new Int32Array(SLOTS).fill(-1)
      let cycles = 0
      const problems: Array<string> = []
      const fiber = (id: number) =>
        Effect.gen(function*() {
          while (cycles < target && Date.now() < deadline && problems.length === 0) {
            cycles++
            const hold = (cycles & 7) === 0
            yield* pool.withLease((lease) => {
              if (holder[lease.slot] !== -1) {
                problems.push(`slot ${lease.slot} leased to ${holder[lease.slot]} and ${id}`)
              }
              holder[lease.slot] = id
              lease.bytes[0] = id
              lease.bytes[63] = cycles & 0xff
              const mark = cycles & 0xff
              const check = Effect.sync(() => {
                if (lease.bytes[0] !== id || lease.bytes[63] !== mark) {
                  problems.push(`slot ${lease.slot} changed under ${id}`)
                }
                holder[lease.slot] = -1
              })
              // Every eighth holder keeps its slot across a yield, so that others queue for it.
              return hold ? Effect.zipRight(Effect.yieldNow(), check) : check
            })
            if (pool.registration.inFlight > SLOTS) problems.push("more tokens than slots")
          }
        })
      const started = Date.now()
      yield* Effect.forEach(Array.from({ length: FIBERS }, (_, id) => id), fiber, {
        concurrency: "unbounded",
        discard: true
      })
      const stats = yield* pool.stats
      if (stats.leased !== 0 || stats.waiting !== 0) problems.push(`pool not idle: ${JSON.stringify(stats)}`)
      const tokens = pool.registration.inFlight
      if (tokens !== 0) problems.push(`${tokens} tokens still held`)
      return { done: cycles, seconds: (Date.now() - started) / 1000, problems, notes: [] }
    }))
}
