/**
 * `BufferPool`: the RIORegisterBuffer documentation's advice as a service — one
 * page-aligned allocation, registered once, cut into fixed slots that are leased and
 * returned without touching the kernel. Many small buffers then lock whole pages once
 * instead of one page each, and the registration is released only after every lease
 * (and so every I/O on a slot) is back.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/pool.js"
import { make as makePool } from "./internal/poolMake.js"
import type * as RegisteredIo from "./RegisteredIo.js"
import type * as RioBuf from "./RioBuf.js"
import type * as RioError from "./RioError.js"

/**
 * A leased slot: its `RioBuf` (pool registration id, slot offset, slot size) and a view
 * of exactly its bytes. Valid until it is returned — every way of taking one returns it by
 * construction (a bracket or a scope). Each lease is a new object whose `buf` dies when it is
 * returned, so a lease kept past its scope cannot send or receive through the slot's next
 * holder.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease {
  /** The slot's index in the pool. */
  readonly slot: number
  /**
   * The slot as a slice. Once the lease is returned, a send or receive on it fails with
   * `WSAEINVAL` before any I/O. A plain copy (`{ ...lease.buf, length: n }`) is checked only
   * against its registration, which the pool keeps alive: make copies inside the lease.
   */
  readonly buf: RioBuf.RioBuf
  /**
   * The slot's bytes. A view cannot be revoked: one kept after the lease is returned still
   * reads and writes the slot, which by then may hold another fiber's data (or zeros, with
   * `zeroOnRelease`). Copy out what must outlive the lease.
   */
  readonly bytes: Uint8Array
}

/**
 * A pool's state now.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Slots in the pool. */
  readonly size: number
  /** Slots leased now. */
  readonly leased: number
  /** Fibers waiting for a slot. */
  readonly waiting: number
  /** Pages locked by the pool's registration. */
  readonly lockedPages: number
}

/**
 * The shape of a pool: slot size, slot count, zeroing, and how long closing may wait.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Bytes per slot (≥ 1). */
  readonly slotSize: number
  /** Number of slots (≥ 1). `slotSize * slots` must fit one registration of the backend. */
  readonly slots: number
  /**
   * Clear a slot's bytes when it is returned, so one lease (one connection) never sees
   * another's data. Off by default: it costs a `fill(0)` of the slot per return.
   */
  readonly zeroOnRelease?: boolean
  /**
   * How long closing the pool may wait for leases still out (kept in a scope that outlives
   * the pool's). Unset, it waits as long as it takes, logging a warning that names them
   * after 1 s and every 10 s after that. Set, it gives up after this long: the memory stays
   * registered and allocated (a lease may still be doing I/O on it), and the close dies
   * with a `WSAETIMEDOUT`.
   */
  readonly releaseTimeout?: Duration.DurationInput
}

/**
 * A live pool: its one registration, the ways to lease a slot, and its statistics.
 *
 * @since 0.1.0
 * @category models
 */
export interface BufferPool {
  readonly slotSize: number
  readonly size: number
  readonly zeroOnRelease: boolean
  /** The pool's one registration. */
  readonly registration: RegisteredIo.Registration
  /**
   * The fast path: leases a slot (waiting in FIFO order, interruptibly, if none is free),
   * runs `use`, and returns the slot however `use` ends — no `Scope` is created.
   * Combine with `Effect.timeout` to bound the wait.
   */
  readonly withLease: <A, E, R>(
    use: (lease: Lease) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RioError.WSAEINVAL, R>
  /** A lease returned when the scope closes; waits like `withLease`. */
  readonly lease: Effect.Effect<Lease, RioError.WSAEINVAL, Scope.Scope>
  /** A lease returned when the scope closes, if a slot is free now; never waits. */
  readonly tryLease: Effect.Effect<Option.Option<Lease>, RioError.WSAEINVAL, Scope.Scope>
  /** `withLease` if a slot is free now (`Some` of the result), else `None` at once; no `Scope`. */
  readonly tryWithLease: <A, E, R>(
    use: (lease: Lease) => Effect.Effect<A, E, R>
  ) => Effect.Effect<Option.Option<A>, E | RioError.WSAEINVAL, R>
  readonly stats: Effect.Effect<Stats>
}

/**
 * Allocates `slotSize * slots` bytes of page-aligned memory from the backend, registers
 * it once and cuts it into slots. Closing the scope refuses new leases, fails waiters
 * with `WSAEINVAL`, waits for every lease to come back (see `releaseTimeout`), deregisters,
 * then frees.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<
  BufferPool,
  RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError,
  RegisteredIo.RegisteredIo | Scope.Scope
> = makePool

/**
 * The pool's metrics, tagged with `backend`: `effect_rio_pool_leases_in_use` (gauge),
 * `effect_rio_pool_lease_waits` (counter), `effect_rio_pool_registered_bytes` (gauge) and
 * `effect_rio_pool_locked_pages` (gauge).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = internal.metrics
