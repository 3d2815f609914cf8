/**
 * `BufferPool.make`: checks the shape, allocates and registers the pool's one region, and
 * ties its release to the scope.
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { BufferPool, Options } from "../BufferPool.js"
import * as RegisteredIo from "../RegisteredIo.js"
import * as RioError from "../RioError.js"
import { tagsOf } from "./observability.js"
import { PoolImpl } from "./pool.js"
import { MAX_DWORD } from "./validate.js"

const invalid = (message: string) => new RioError.WSAEINVAL({ operation: "BufferPool.make", message })

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n > 0

export const make = (
  options: Options
): Effect.Effect<
  BufferPool,
  RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError,
  RegisteredIo.RegisteredIo | Scope.Scope
> =>
  Effect.gen(function*() {
    const { slotSize, slots } = options
    if (!isCount(slotSize)) return yield* invalid(`slotSize ${String(slotSize)} is not a positive integer.`)
    if (!isCount(slots)) return yield* invalid(`slots ${String(slots)} is not a positive integer.`)
    const io = yield* RegisteredIo.RegisteredIo
    const total = slotSize * slots
    const limit = Math.min(io.maxBufferLength, MAX_DWORD)
    if (total > limit) {
      return yield* invalid(
        `${slots} slots of ${slotSize} bytes (${total} bytes) exceed one ${io.backend} registration ` +
          `(at most ${limit} bytes). Use fewer or smaller slots, or several pools.`
      )
    }
    const registration = yield* io.allocateBuffer(total, {
      label: `BufferPool (${slots} slots of ${slotSize} bytes)`,
      ...(options.releaseTimeout === undefined ? {} : { releaseTimeout: options.releaseTimeout })
    })
    const lockedPages = Math.ceil(total / io.pageSize)
    const tags = io.metrics ? tagsOf(io.backend) : undefined
    const pool = new PoolImpl(registration, slotSize, slots, options.zeroOnRelease === true, lockedPages, tags)
    pool.account(1)
    // Runs before the registration's release (finalizers run in reverse): refuse, then drain.
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => {
        pool.close()
        pool.account(-1)
      })
    )
    return {
      slotSize,
      size: slots,
      zeroOnRelease: pool.zeroOnRelease,
      registration,
      withLease: (use) => pool.withLease(use),
      lease: pool.lease,
      tryLease: pool.tryLease,
      tryWithLease: (use) => pool.tryWithLease(use),
      stats: pool.stats
    } satisfies BufferPool
  })
