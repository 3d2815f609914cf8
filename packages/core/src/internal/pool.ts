/**
 * A `BufferPool` at work: leases of fixed slots of one registration, handed out in FIFO
 * order with backpressure, zeroed on return when asked, with metrics.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { Lease, Stats as PoolStats } from "../BufferPool.js"
import type { Registration } from "../RegisteredIo.js"
import type * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { SliceImpl } from "./registration.js"

export const metrics = {
  leasesInUse: Metric.gauge("effect_rio_pool_leases_in_use", {
    description: "Slots of BufferPools currently leased, per backend"
  }),
  leaseWaits: Metric.counter("effect_rio_pool_lease_waits", {
    description: "Leases that had to wait for a free slot, per backend",
    incremental: true
  }),
  registeredBytes: Metric.gauge("effect_rio_pool_registered_bytes", {
    description: "Bytes registered by live BufferPools, per backend"
  }),
  lockedPages: Metric.gauge("effect_rio_pool_locked_pages", {
    description: "Pages locked by live BufferPools, per backend"
  })
}

/** A waiting lease: `slot` is set when a returning slot is handed to it (FIFO, no barging). */
interface Waiter {
  resume: ((effect: Effect.Effect<void, RioError.WSAEINVAL>) => void) | undefined
  slot: number
}

const closedError = () =>
  new RioError.WSAEINVAL({
    operation: "BufferPool.lease",
    message: "The BufferPool is closed: lease only inside the pool's scope."
  })

export class PoolImpl {
  /**
   * The lease out on each slot. Every lease is a new object with a slice of its own, revoked
   * when it is returned, so that a kept `buf` cannot reach the slot's next holder.
   */
  private readonly current: Array<Lease | undefined>
  private readonly views: ReadonlyArray<Uint8Array>
  private readonly free: Int32Array
  private freeCount: number
  private readonly leasedFlags: Uint8Array
  private readonly waiters: Array<Waiter> = []
  private waitersHead = 0
  private waitingCount = 0
  private closed = false

  constructor(
    readonly registration: Registration,
    readonly slotSize: number,
    readonly size: number,
    readonly zeroOnRelease: boolean,
    readonly lockedPages: number,
    /** The metrics' `backend` tag, or `undefined` when the service's metrics are off. */
    private readonly tags: ReadonlyArray<MetricLabel.MetricLabel> | undefined
  ) {
    const views: Array<Uint8Array> = []
    for (let slot = 0; slot < size; slot++) {
      views.push(registration.bytes.subarray(slot * slotSize, (slot + 1) * slotSize))
    }
    this.views = views
    this.current = new Array(size).fill(undefined)
    // A stack, lowest slot on top: recently returned slots are reused first (warm in cache).
    this.free = new Int32Array(size)
    for (let i = 0; i < size; i++) this.free[i] = size - 1 - i
    this.freeCount = size
    this.leasedFlags = new Uint8Array(size)
  }

  get leased(): number {
    return this.size - this.freeCount
  }

  get waiting(): number {
    return this.waitingCount
  }

  /** A free slot now, or undefined; never waits. Throws nothing; a closed pool gives none. */
  unsafeTryLease(): Lease | undefined {
    if (this.freeCount === 0 || this.closed) return undefined
    const slot = this.free[--this.freeCount]!
    this.leasedFlags[slot] = 1
    if (this.tags !== undefined) metrics.leasesInUse.unsafeModify(1, this.tags)
    // Cannot fail: the registration outlives the pool's open state (closing happens first).
    this.registration.unsafeAcquireToken()
    return this.handOut(slot)
  }

  private handOut(slot: number): Lease {
    const lease: Lease = {
      slot,
      buf: this.registration.unsafeSlice(slot * this.slotSize, this.slotSize) as RioBuf.RioBuf,
      bytes: this.views[slot]!
    }
    this.current[slot] = lease
    return lease
  }

  /** Gives a lease back; false if it was not leased (a double return). */
  unsafeRelease(lease: Lease): boolean {
    const slot = lease.slot
    if (this.leasedFlags[slot] !== 1 || this.current[slot] !== lease) return false
    this.current[slot] = undefined
    if (lease.buf instanceof SliceImpl) lease.buf.revoke()
    if (this.zeroOnRelease) lease.bytes.fill(0)
    const waiter = this.nextWaiter()
    if (waiter !== undefined) {
      // The slot passes straight to the oldest waiter, in a lease of its own: its token stays held.
      waiter.slot = slot
      this.handOut(slot)
      const resume = waiter.resume!
      waiter.resume = undefined
      resume(Effect.void)
      return true
    }
    this.leasedFlags[slot] = 0
    this.free[this.freeCount++] = slot
    this.registration.unsafeReleaseToken()
    if (this.tags !== undefined) metrics.leasesInUse.unsafeModify(-1, this.tags)
    return true
  }

  private nextWaiter(): Waiter | undefined {
    while (this.waitersHead < this.waiters.length) {
      const waiter = this.waiters[this.waitersHead]!
      this.waiters[this.waitersHead++] = undefined as never
      if (this.waitersHead > 1024 && this.waitersHead * 2 > this.waiters.length) {
        this.waiters.splice(0, this.waitersHead)
        this.waitersHead = 0
      }
      if (waiter.resume !== undefined) {
        this.waitingCount--
        return waiter
      }
    }
    return undefined
  }

  /** Waits in line for a slot; interruption gives back a slot that was already handed over. */
  private readonly waitForSlot: Effect.Effect<Lease, RioError.WSAEINVAL> = Effect.suspend(() => {
    const waiter: Waiter = { resume: undefined, slot: -1 }
    if (this.tags !== undefined) metrics.leaseWaits.unsafeUpdate(1, this.tags)
    return Effect.async<void, RioError.WSAEINVAL>((resume) => {
      waiter.resume = resume
      this.waiters.push(waiter)
      this.waitingCount++
      return Effect.sync(() => {
        // Cancelled while still in line: it leaves the line (the entry is skipped later).
        if (waiter.resume !== undefined) {
          waiter.resume = undefined
          this.waitingCount--
        }
      })
    }).pipe(
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          if (waiter.slot >= 0) this.unsafeRelease(this.current[waiter.slot]!)
        })
      ),
      Effect.map(() => this.current[waiter.slot]!)
    )
  })

  /** Adds (or, with -1, removes) this pool's registration to the per-backend gauges. */
  account(sign: 1 | -1): void {
    if (this.tags === undefined) return
    metrics.registeredBytes.unsafeModify(sign * this.registration.byteLength, this.tags)
    metrics.lockedPages.unsafeModify(sign * this.lockedPages, this.tags)
  }

  withLease<A, E, R>(use: (lease: Lease) => Effect.Effect<A, E, R>): Effect.Effect<A, E | RioError.WSAEINVAL, R> {
    return Effect.uninterruptibleMask((restore) => {
      const lease = this.unsafeTryLease()
      if (lease !== undefined) return this.useThenRelease(lease, use, restore)
      if (this.closed) return Effect.fail(closedError())
      return Effect.flatMap(restore(this.waitForSlot), (lease) => this.useThenRelease(lease, use, restore))
    })
  }

  private useThenRelease<A, E, R>(
    lease: Lease,
    use: (lease: Lease) => Effect.Effect<A, E, R>,
    restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
  ): Effect.Effect<A, E, R> {
    return Effect.matchCauseEffect(restore(use(lease)), {
      onFailure: (cause) => {
        this.unsafeRelease(lease)
        return Effect.failCause(cause)
      },
      onSuccess: (value) => {
        this.unsafeRelease(lease)
        return Effect.succeed(value)
      }
    })
  }

  get lease(): Effect.Effect<Lease, RioError.WSAEINVAL, Scope.Scope> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.scope, (scope) => {
        const lease = this.unsafeTryLease()
        const acquired = lease !== undefined
          ? Effect.succeed(lease)
          : this.closed
          ? Effect.fail(closedError())
          : restore(this.waitForSlot)
        return Effect.tap(acquired, (lease) => Scope.addFinalizer(scope, Effect.sync(() => this.unsafeRelease(lease))))
      })
    )
  }

  get tryLease(): Effect.Effect<Option.Option<Lease>, RioError.WSAEINVAL, Scope.Scope> {
    return Effect.uninterruptible(Effect.flatMap(Effect.scope, (scope) => {
      if (this.closed) return Effect.fail(closedError())
      const lease = this.unsafeTryLease()
      if (lease === undefined) return Effect.succeed(Option.none())
      return Effect.as(Scope.addFinalizer(scope, Effect.sync(() => this.unsafeRelease(lease))), Option.some(lease))
    }))
  }

  tryWithLease<A, E, R>(
    use: (lease: Lease) => Effect.Effect<A, E, R>
  ): Effect.Effect<Option.Option<A>, E | RioError.WSAEINVAL, R> {
    return Effect.uninterruptibleMask((restore): Effect.Effect<Option.Option<A>, E | RioError.WSAEINVAL, R> => {
      if (this.closed) return Effect.fail(closedError())
      const lease = this.unsafeTryLease()
      if (lease === undefined) return Effect.succeed(Option.none())
      return Effect.map(this.useThenRelease(lease, use, restore), Option.some)
    })
  }

  get stats(): Effect.Effect<PoolStats> {
    return Effect.sync(() => {
      return { size: this.size, leased: this.leased, waiting: this.waiting, lockedPages: this.lockedPages }
    })
  }

  /** Refuses new leases and fails the waiters; leases out keep the registration open. */
  close(): void {
    this.closed = true
    for (let waiter = this.nextWaiter(); waiter !== undefined; waiter = this.nextWaiter()) {
      const resume = waiter.resume!
      waiter.resume = undefined
      resume(Effect.fail(closedError()))
    }
  }
}
