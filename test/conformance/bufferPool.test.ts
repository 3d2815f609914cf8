import { BufferPool, RegisteredIo, RioError } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { describeBackends } from "./describeBackends.js"

const yieldTimes = (n: number) => Effect.repeatN(Effect.yieldNow(), Math.max(0, n - 1))

describeBackends("BufferPool conformance", (it) => {
  it.effect("invalid sizes are WSAEINVAL with a message", () =>
    Effect.gen(function*() {
      for (
        const options of [{ slotSize: 0, slots: 1 }, { slotSize: 1, slots: 0 }, { slotSize: 1.5, slots: 2 }, {
          slotSize: 2 ** 20,
          slots: 2 ** 13
        }]
      ) {
        const error = yield* Effect.flip(Effect.scoped(BufferPool.make(options)))
        assert.strictEqual(error._tag, "WSAEINVAL", JSON.stringify(options))
        assert.isAbove(error.message.length, 10)
      }
    }))

  it.effect("1,000 slots of 512 bytes lock whole pages once, not one page per buffer", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = (yield* io.stats).lockedPages
      const pooled = yield* Effect.scoped(Effect.gen(function*() {
        const pool = yield* BufferPool.make({ slotSize: 512, slots: 1000 })
        const stats = yield* pool.stats
        assert.strictEqual(stats.lockedPages, Math.ceil(512_000 / io.pageSize))
        return (yield* io.stats).lockedPages - before
      }))
      assert.isAtMost(pooled, Math.ceil(512_000 / io.pageSize) + 1)
      const separate = yield* Effect.scoped(Effect.gen(function*() {
        const memory = yield* RegisteredIo.allocateBuffer(1000 * io.pageSize)
        const pages = (yield* io.stats).lockedPages
        // Register 512 bytes at the start of each page, as separate small buffers would be.
        for (let i = 0; i < 1000; i++) {
          yield* RegisteredIo.registerBuffer(memory.bytes.subarray(i * io.pageSize, i * io.pageSize + 512))
        }
        return (yield* io.stats).lockedPages - pages
      }))
      assert.strictEqual(separate, 1000)
      assert.strictEqual((yield* io.stats).lockedPages, before)
    }))

  it.scoped("a lease is a RioBuf and a view of exactly its slot", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 100, slots: 3 })
      yield* pool.withLease((a) =>
        pool.withLease((b) =>
          Effect.sync(() => {
            assert.strictEqual(a.buf.bufferId, pool.registration.id)
            assert.strictEqual(a.bytes.byteLength, 100)
            assert.strictEqual(b.buf.offset - a.buf.offset, 100 * (b.slot - a.slot))
            b.bytes.fill(9)
            assert.strictEqual(pool.registration.bytes[b.buf.offset], 9)
            assert.strictEqual(pool.registration.bytes[b.buf.offset + 100] ?? 0, 0)
          })
        )
      )
    }))

  it.scoped("backpressure: tryLease is None when full, a waiter gets the next released slot", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 2 })
      const a = yield* holdTry(pool)
      const b = yield* holdTry(pool)
      assert.isTrue(Option.isSome(a.lease) && Option.isSome(b.lease))
      assert.isTrue(Option.isNone(yield* Effect.scoped(pool.tryLease)))
      assert.isTrue(Option.isNone(yield* pool.tryWithLease(() => Effect.die("never runs"))))
      const waiter = yield* Effect.fork(pool.withLease((lease) => Effect.succeed(lease.slot)))
      yield* yieldTimes(5)
      assert.strictEqual((yield* pool.stats).waiting, 1)
      assert.isNull(waiter.unsafePoll())
      yield* b.release
      const slot = yield* Fiber.join(waiter)
      assert.strictEqual(slot, Option.getOrThrow(b.lease).slot)
      const again = yield* hold(pool)
      const timing = yield* Effect.fork(
        pool.withLease(() => Effect.void).pipe(Effect.timeout("20 millis"), Effect.option)
      )
      yield* yieldTimes(3)
      yield* TestClock.adjust("20 millis")
      assert.isTrue(Option.isNone(yield* Fiber.join(timing)))
      assert.strictEqual((yield* pool.stats).waiting, 0)
      yield* again.release
      yield* a.release
      assert.deepStrictEqual(yield* pool.stats, { size: 2, leased: 0, waiting: 0, lockedPages: 1 })
      assert.deepStrictEqual(
        yield* pool.tryWithLease((lease) => Effect.succeed(lease.bytes.byteLength)),
        Option.some(64)
      )
    }))

  it.scoped("waiters are served first come, first served", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 1 })
      const held = yield* hold(pool)
      const order: Array<number> = []
      const fibers = yield* Effect.forEach([1, 2, 3], (n) =>
        Effect.fork(pool.withLease(() => Effect.sync(() => order.push(n)))).pipe(Effect.zipLeft(yieldTimes(2))))
      yield* held.release
      yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(order, [1, 2, 3])
    }))

  it.scoped("an interrupted waiter loses no slot, even one handed to it as it is interrupted", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 1 })
      const held = yield* hold(pool)
      const waiter = yield* Effect.fork(pool.withLease(() => Effect.never))
      yield* yieldTimes(3)
      yield* Fiber.interrupt(waiter)
      assert.strictEqual((yield* pool.stats).waiting, 0)
      const handed = yield* Effect.fork(pool.withLease(() => Effect.void))
      yield* yieldTimes(3)
      yield* held.release // handed over to the waiter...
      yield* Fiber.interrupt(handed) // ...which is interrupted before it runs
      assert.deepStrictEqual(yield* pool.stats, { size: 1, leased: 0, waiting: 0, lockedPages: 1 })
      const last = yield* holdTry(pool)
      assert.isTrue(Option.isSome(last.lease))
      yield* last.release
      yield* last.release
      assert.strictEqual((yield* pool.stats).leased, 0, "closing a lease's scope twice returns it once")
      const one = yield* hold(pool)
      assert.isTrue(Option.isNone(yield* pool.tryWithLease(() => Effect.void)), "one slot, one lease")
      yield* one.release
    }))

  it.scoped("zeroOnRelease: bytes written by one lease are never seen by the next", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 256, slots: 1, zeroOnRelease: true })
      yield* pool.withLease((lease) => Effect.sync(() => lease.bytes.fill(0x5a)))
      yield* pool.withLease((lease) => Effect.sync(() => assert.isTrue(lease.bytes.every((byte) => byte === 0))))
      yield* Effect.scoped(Effect.flatMap(pool.lease, (lease) => Effect.sync(() => lease.bytes.fill(1))))
      const zeroed = yield* pool.tryWithLease((lease) => Effect.succeed(lease.bytes.every((byte) => byte === 0)))
      assert.deepStrictEqual(zeroed, Option.some(true))
      const plain = yield* BufferPool.make({ slotSize: 256, slots: 1 })
      yield* plain.withLease((lease) => Effect.sync(() => lease.bytes.fill(7)))
      // Without zeroing the bytes stay: that is what the option is for.
      yield* plain.withLease((lease) => Effect.sync(() => assert.strictEqual(lease.bytes[0], 7)))
    }))

  it.effect("closing waits for every lease, fails waiters, then deregisters and frees", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(BufferPool.make({ slotSize: 64, slots: 1 }), scope)
      const held = yield* hold(pool)
      const waiter = yield* Effect.fork(pool.withLease(() => Effect.void))
      yield* yieldTimes(3)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const failed = yield* Fiber.join(waiter).pipe(Effect.flip)
      assert.strictEqual(failed._tag, "WSAEINVAL")
      yield* yieldTimes(10)
      assert.isNull(closing.unsafePoll())
      assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1)
      assert.strictEqual((yield* Effect.flip(Effect.scoped(pool.tryLease)))._tag, "WSAEINVAL")
      assert.strictEqual((yield* Effect.flip(pool.tryWithLease(() => Effect.void)))._tag, "WSAEINVAL")
      yield* held.release
      yield* Fiber.join(closing)
      assert.isTrue(pool.registration.isReleased)
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  it.effect("a lease kept past the pool's scope: the close warns, naming what is outstanding, and waits", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const logs: Array<string> = []
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(BufferPool.make({ slotSize: 64, slots: 4 }), scope)
      const kept = yield* hold(pool)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void).pipe(withLogs(logs)))
      yield* yieldTimes(5)
      assert.deepStrictEqual(logs, [])
      yield* TestClock.adjust("1 second")
      assert.strictEqual(logs.length, 1)
      assert.match(logs[0]!, /^WARN: .*BufferPool \(4 slots of 64 bytes\) waits for 1 outstanding token/)
      assert.include(logs[0]!, "1s so far")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(logs.length, 2)
      assert.include(logs[1]!, "11s so far")
      assert.isNull(closing.unsafePoll())
      assert.strictEqual((yield* io.stats).registeredBuffers, before.registeredBuffers + 1)
      yield* kept.release
      yield* Fiber.join(closing)
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  it.effect("with releaseTimeout, a kept lease ends the close in WSAETIMEDOUT and the memory stays pinned", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const logs: Array<string> = []
      const scope = yield* Scope.make()
      const pool = yield* Scope.extend(BufferPool.make({ slotSize: 64, slots: 2, releaseTimeout: "3 seconds" }), scope)
      const kept = yield* hold(pool)
      kept.lease.bytes.fill(0x42)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void).pipe(withLogs(logs)))
      yield* TestClock.adjust("3 seconds")
      const exit = yield* Fiber.await(closing)
      assert.isTrue(Exit.isFailure(exit))
      const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(defect) && defect.value instanceof RioError.WSAETIMEDOUT)
      const error = Option.getOrThrow(defect) as RioError.WSAETIMEDOUT
      assert.strictEqual(error.code, 10060)
      assert.include(error.message, "1 token(s)")
      assert.include(error.message, "stays pinned")
      assert.strictEqual(logs.filter((line) => line.startsWith("WARN")).length, 1)
      assert.strictEqual(logs.filter((line) => line.startsWith("ERROR")).length, 1)
      // Left pinned on purpose: still registered, the memory still allocated and intact.
      const after = yield* io.stats
      assert.strictEqual(after.registeredBuffers, before.registeredBuffers + 1)
      assert.strictEqual(after.lockedPages, before.lockedPages + 1)
      assert.strictEqual(kept.lease.bytes[0], 0x42)
      assert.isTrue(pool.registration.isReleased)
      yield* kept.release
      // The process stays healthy: the backend goes on serving.
      yield* Effect.scoped(BufferPool.make({ slotSize: 64, slots: 2 }))
    }))

  it.effect.prop(
    "random lease/release/interrupt interleavings at concurrency 64 keep every invariant",
    [
      FastCheck.integer({ min: 1, max: 8 }),
      FastCheck.array(
        FastCheck.record({
          kind: FastCheck.constantFrom("withLease", "lease", "tryLease", "tryWithLease"),
          hold: FastCheck.integer({ min: 0, max: 4 }),
          interruptAfter: FastCheck.option(FastCheck.integer({ min: 0, max: 6 }), { nil: undefined })
        }),
        { minLength: 1, maxLength: 96 }
      )
    ],
    ([slots, operations]) =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const control = yield* Effect.serviceOption(RioTest.Control)
        const before = yield* io.stats
        const deregistrationsBefore = yield* countDeregistrations(control)
        const inUse = new Set<number>()
        let doubleLeases = 0
        const registration = yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* BufferPool.make({ slotSize: 32, slots })
          const occupy = (lease: BufferPool.Lease, n: number) =>
            Effect.gen(function*() {
              if (inUse.has(lease.slot)) doubleLeases++
              inUse.add(lease.slot)
              yield* yieldTimes(n)
            }).pipe(Effect.ensuring(Effect.sync(() => inUse.delete(lease.slot))))
          yield* Effect.forEach(operations, (op) =>
            Effect.gen(function*() {
              const run = op.kind === "withLease"
                ? pool.withLease((lease) => occupy(lease, op.hold))
                : op.kind === "lease"
                ? Effect.scoped(Effect.flatMap(pool.lease, (lease) => occupy(lease, op.hold)))
                : op.kind === "tryLease"
                ? Effect.scoped(Effect.flatMap(
                  pool.tryLease,
                  Option.match({ onNone: () => Effect.void, onSome: (lease) => occupy(lease, op.hold) })
                ))
                : pool.tryWithLease((lease) => occupy(lease, op.hold))
              const fiber = yield* Effect.fork(run)
              if (op.interruptAfter !== undefined) {
                yield* yieldTimes(op.interruptAfter)
                yield* Fiber.interrupt(fiber)
              } else {
                yield* Fiber.join(fiber)
              }
            }), { concurrency: 64, discard: true })
          assert.deepStrictEqual(yield* pool.stats, { size: slots, leased: 0, waiting: 0, lockedPages: 1 })
          return pool.registration
        }))
        assert.strictEqual(doubleLeases, 0)
        assert.strictEqual(inUse.size, 0)
        assert.isTrue(registration.isReleased)
        assert.deepStrictEqual(yield* io.stats, before)
        if (Option.isSome(control)) {
          assert.strictEqual((yield* countDeregistrations(control)) - deregistrationsBefore, 1)
          assert.deepStrictEqual(yield* control.value.violations, [])
        }
      }),
    { fastCheck: { numRuns: 1000 } }
  )
})

/** What `acquire` gives, held in a scope of its own, closed when `release` runs (as often as it likes). */
const inOwnScope = <A, E, R>(acquire: Effect.Effect<A, E, R | Scope.Scope>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lease = yield* Scope.extend(acquire, scope)
    return { lease, release: Scope.close(scope, Exit.void) }
  })

const hold = (pool: BufferPool.BufferPool) => inOwnScope(pool.lease)

const holdTry = (pool: BufferPool.BufferPool) => inOwnScope(pool.tryLease)

/** Runs `effect` with a logger that appends `LEVEL: message` lines to `lines`. */
const withLogs = (lines: Array<string>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provide(
    effect,
    Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel.label}: ${Array.isArray(message) ? message.join(" ") : String(message)}`)
      })
    )
  )

const countDeregistrations = (control: Option.Option<RioTest.ControlService>) =>
  Option.match(control, {
    onNone: () => Effect.succeed(0),
    onSome: (control) =>
      Effect.map(control.history, (history) => history.filter((entry) => entry.operation === "deregisterBuffer").length)
  })
