/**
 * Issue 5's benchmark: one lease+release of a 512-byte buffer through `withLease`, through
 * the scoped `lease`, through `tryWithLease` (no waiting), and a fresh registration per
 * operation (`withBuffer`), on a backend.
 */
import { BufferPool, RegisteredIo } from "@effect-rio/core"
import * as Effect from "effect/Effect"
import type { Figure, Plan } from "./measure.js"
import { timeEffects } from "./measure.js"

export interface PoolRow {
  readonly backend: string
  /** Effect.onExit around a no-op, in rounds interleaved with the others: the floor withLease is held to. */
  readonly floor: Figure
  readonly withLease: Figure
  readonly scopedLease: Figure
  readonly tryWithLease: Figure
  readonly withBuffer: Figure
}

export const pool = (plan: Plan): Effect.Effect<PoolRow, unknown, RegisteredIo.RegisteredIo> =>
  Effect.scoped(Effect.gen(function*() {
    const io = yield* RegisteredIo.RegisteredIo
    const pool = yield* BufferPool.make({ slotSize: 512, slots: 1024 })
    const fresh = new Uint8Array(512)
    const use = () => Effect.void
    const timed = yield* timeEffects(plan, {
      floor: () => Effect.onExit(Effect.void, use),
      withLease: () => pool.withLease(use),
      scopedLease: () => Effect.scoped(pool.lease),
      tryWithLease: () => pool.tryWithLease(use),
      withBuffer: () => RegisteredIo.withBuffer(fresh, use)
    })
    return { backend: io.backend, ...timed }
  }))

export interface Footprint {
  readonly backend: string
  readonly pageSize: number
  readonly pooledPages: number
  readonly separatePages: number
}

/** Pages locked by 1,000 buffers of 512 bytes: one pool against 1,000 registrations on their own pages. */
export const footprint: Effect.Effect<Footprint, unknown, RegisteredIo.RegisteredIo> = Effect.gen(function*() {
  const io = yield* RegisteredIo.RegisteredIo
  const base = (yield* io.stats).lockedPages
  const pooledPages = yield* Effect.scoped(Effect.gen(function*() {
    yield* BufferPool.make({ slotSize: 512, slots: 1000 })
    return (yield* io.stats).lockedPages - base
  }))
  const separatePages = yield* Effect.scoped(Effect.gen(function*() {
    const memory = yield* io.rawAllocate(1000 * io.pageSize)
    yield* Effect.addFinalizer(() => Effect.orDie(io.rawFree(memory)))
    for (let i = 0; i < 1000; i++) {
      yield* RegisteredIo.registerBuffer(memory.subarray(i * io.pageSize, i * io.pageSize + 512))
    }
    return (yield* io.stats).lockedPages - base
  }))
  return { backend: io.backend, pageSize: io.pageSize, pooledPages, separatePages }
})
