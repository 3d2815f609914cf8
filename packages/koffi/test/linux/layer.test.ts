/**
 * `KoffiRio.layerLinux()` through the public API, checked against the kernel's own count of
 * pinned memory (`VmPin` in /proc/self/status): what is registered is pinned, exactly, and
 * nothing stays pinned or occupies a table slot once its scope has closed — also after
 * interruption, under concurrency, across garbage collections and at the memlock limit.
 *
 * VmPin is per process; these deltas are exact because vitest runs each test file in a
 * process of its own (the default `forks` pool) and the tests of a file one at a time.
 */
import { BufferPool, RegisteredIo, RioError } from "@effect-rio/core"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { readVmPinKiB } from "../../src/internal/linux/vmpin.js"
import * as KoffiRio from "../../src/KoffiRio.js"
import type { Snapshot } from "./layerParts.js"
import {
  assertBackTo,
  assertKernelSeesJs,
  assertPinned,
  churn,
  collectAll,
  collector,
  KiB,
  nextIds,
  pagesCovered,
  rawMemory,
  snapshot,
  survivors
} from "./layerParts.js"

layer(KoffiRio.layerLinux())("KoffiRio.layerLinux against the kernel's VmPin", (it) => {
  describe("registrations pin exactly their pages, and only while open", () => {
    it.effect.prop(
      "allocateBuffer(n) pins ceil(n / pageSize) pages until its scope closes",
      [FastCheck.integer({ min: 1, max: 64 * 4096 })],
      ([byteLength]) =>
        Effect.gen(function*() {
          const io = yield* RegisteredIo.RegisteredIo
          const start = yield* snapshot
          yield* Effect.scoped(Effect.gen(function*() {
            const registration = yield* RegisteredIo.allocateBuffer(byteLength)
            assert.strictEqual(registration.address % BigInt(io.pageSize), 0n)
            assert.strictEqual(registration.byteLength, byteLength)
            yield* assertPinned(start, Math.ceil(byteLength / io.pageSize), 1)
          }))
          yield* assertBackTo(start, "after the scope")
        }),
      { fastCheck: { numRuns: 40 } }
    )

    it.effect.prop(
      "a sub-range pins every page it touches, no more (page straddles included)",
      [FastCheck.integer({ min: 0, max: 3 * 4096 }), FastCheck.integer({ min: 1, max: 8 * 4096 })],
      ([offset, length]) =>
        Effect.gen(function*() {
          const io = yield* RegisteredIo.RegisteredIo
          const start = yield* snapshot
          yield* Effect.scoped(Effect.gen(function*() {
            const memory = yield* rawMemory(12 * io.pageSize)
            // Unregistered memory from allocate is not pinned.
            yield* assertPinned(start, 0, 0)
            yield* RegisteredIo.registerBuffer(memory.subarray(offset, offset + length))
            yield* assertPinned(start, pagesCovered(offset, length, io.pageSize), 1)
          }))
          yield* assertBackTo(start, "after the scope")
        }),
      { fastCheck: { numRuns: 40 } }
    )

    it.effect("an interrupted fiber's registrations are all released, nested bracket included", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const start = yield* snapshot
        const registered = yield* Deferred.make<Snapshot>()
        const fiber = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const registration = yield* RegisteredIo.allocateBuffer(64 * io.pageSize)
          // The kernel charges overlapping registrations separately; so must the stats.
          return yield* RegisteredIo.withBuffer(
            registration.bytes.subarray(0, 3 * io.pageSize),
            () => Effect.zipRight(Effect.flatMap(snapshot, (now) => Deferred.succeed(registered, now)), Effect.never)
          )
        })))
        const whileOpen = yield* Deferred.await(registered)
        assert.strictEqual(whileOpen.vmPinKiB - start.vmPinKiB, 67 * (io.pageSize / KiB))
        assert.strictEqual(whileOpen.stats.lockedPages - start.stats.lockedPages, 67)
        assert.strictEqual(whileOpen.stats.registeredBuffers - start.stats.registeredBuffers, 2)

        const exit = yield* Fiber.interrupt(fiber)
        assert.isTrue(Exit.isInterrupted(exit))
        yield* assertBackTo(start, "after the interruption")
      }))

    it.effect("closing the layer deregisters what raw calls left registered", () =>
      Effect.gen(function*() {
        const vmPinBefore = readVmPinKiB()
        const scope = yield* Scope.make()
        const io = Context.get(yield* Layer.buildWithScope(KoffiRio.layerLinux(), scope), RegisteredIo.RegisteredIo)
        const memory = yield* io.rawAllocate(16 * io.pageSize)
        yield* io.rawRegisterBuffer(memory)
        assert.strictEqual(readVmPinKiB() - vmPinBefore, 16 * (io.pageSize / KiB))
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(readVmPinKiB(), vmPinBefore)
      }))
  })

  describe("small typed arrays on V8's moving heap", () => {
    it.effect.prop(
      "arrays of 1..64 bytes keep the registered address through scavenges and compaction",
      [FastCheck.array(FastCheck.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 256 })],
      ([lengths]) =>
        Effect.gen(function*() {
          const gc = collector()
          const start = yield* snapshot
          yield* Effect.scoped(Effect.gen(function*() {
            let kept = churn(20_000, 8)
            // Fresh and small, so V8 keeps their bytes inside the JS object on the moving heap
            // until something asks for a stable address.
            const arrays = lengths.map((length, i) => new Uint8Array(length).fill(i))
            const registrations = yield* Effect.forEach(arrays, (bytes) => RegisteredIo.registerBuffer(bytes))
            for (let round = 0; round < 3; round++) {
              collectAll(gc)
              kept = kept.filter((_, i) => i % 8 === 0).concat(churn(20_000, 8))
              collectAll(gc)
              registrations.forEach((registration, i) => assertKernelSeesJs(registration, arrays[i]!, i + round))
            }
            // Read after the last GC, so the survivors that fragment the heap are live through all of them.
            assert.isAbove(kept.length, 0)
          }))
          yield* assertBackTo(start, "after the scope")
        }),
      { fastCheck: { numRuns: 15 } }
    )

    it.effect("4096 registrations of new Uint8Array(16) stay the JS memory across GCs", () =>
      Effect.gen(function*() {
        const gc = collector()
        const start = yield* snapshot
        yield* Effect.scoped(Effect.gen(function*() {
          const arrays = Array.from({ length: 4096 }, (_, i) => new Uint8Array(16).fill(i))
          const registrations = yield* Effect.forEach(arrays, (bytes) => RegisteredIo.registerBuffer(bytes))
          const addresses = new Set(registrations.map((registration) => registration.address))
          assert.strictEqual(addresses.size, 4096, "two arrays share an address")
          let kept = churn(50_000, 4)
          for (let round = 0; round < 3; round++) {
            collectAll(gc)
            kept = kept.filter((_, i) => i % 4 === 0).concat(churn(50_000, 4))
            collectAll(gc)
            registrations.forEach((registration, i) => assertKernelSeesJs(registration, arrays[i]!, i * 7 + round))
          }
          // Read after the last GC, so the survivors that fragment the heap are live through all of them.
          assert.isAbove(kept.length, 0)
          const stats = (yield* snapshot).stats
          assert.strictEqual(stats.registeredBuffers - start.stats.registeredBuffers, 4096)
          assert.strictEqual(stats.registeredBytes - start.stats.registeredBytes, 4096 * 16)
        }))
        yield* assertBackTo(start, "after the scope")
      }))

    it.effect("a released registration no longer keeps its JS memory alive", () =>
      Effect.gen(function*() {
        const gc = collector()
        // An effect of its own: once it is done, only the WeakRefs point at the arrays.
        const registerAndRelease = Effect.scoped(Effect.gen(function*() {
          const arrays = Array.from({ length: 1000 }, (_, i) => new Uint8Array(1 + (i % 64)))
          yield* Effect.forEach(arrays, (bytes) => RegisteredIo.registerBuffer(bytes), { discard: true })
          return arrays.map((bytes) => new WeakRef(bytes))
        }))
        const refs = yield* registerAndRelease
        assert.strictEqual(yield* survivors(gc, refs), 0)
      }))
  })

  describe("churn", () => {
    it.effect("10,000 register/deregister cycles on 32 fibers, some interrupted, leave nothing behind", () =>
      Effect.gen(function*() {
        const start = yield* snapshot
        const idsBefore = yield* nextIds(40)
        let peak = 0
        const outcomes = { ranToEnd: 0, interruptedWhileRegistered: 0, interruptedEarly: 0, finishedFirst: 0 }

        // By i % 10, with both forms (withBuffer for even i, a scoped registerBuffer for odd):
        // 0-1 park inside the registration and are interrupted there; 2-3 are interrupted
        // after 0..3 yields of their parent, wherever that lands; 4-9 run to the end.
        const kind = (i: number) => i % 10 < 2 ? "park" : i % 10 < 4 ? "race" : "run"

        const use = (i: number, registered: Deferred.Deferred<void>) => (registration: RegisteredIo.Registration) =>
          Effect.gen(function*() {
            const { stats } = yield* snapshot
            peak = Math.max(peak, stats.registeredBuffers - start.stats.registeredBuffers)
            assert.strictEqual(registration.bytes[0], i & 0xFF)
            // Lets the other fibers register while this registration is live.
            yield* Effect.yieldNow()
            if (kind(i) === "park") {
              yield* Deferred.succeed(registered, undefined)
              yield* Effect.never
            }
          })

        const cycle = (i: number) =>
          Effect.gen(function*() {
            const bytes = new Uint8Array(1 + (i * 37) % 8192).fill(i)
            const registered = yield* Deferred.make<void>()
            const body = i % 2 === 0
              ? RegisteredIo.withBuffer(bytes, use(i, registered))
              : Effect.scoped(Effect.flatMap(RegisteredIo.registerBuffer(bytes), use(i, registered)))
            if (kind(i) === "run") {
              yield* body
              outcomes.ranToEnd++
              return
            }
            const fiber = yield* Effect.fork(body)
            if (kind(i) === "park") {
              yield* Deferred.await(registered)
              assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(fiber)))
              outcomes.interruptedWhileRegistered++
              return
            }
            for (let k = 0; k < Math.floor(i / 10) % 4; k++) yield* Effect.yieldNow()
            const exit = yield* Fiber.interrupt(fiber)
            if (Exit.isInterrupted(exit)) outcomes.interruptedEarly++
            else outcomes.finishedFirst++
          })

        yield* Effect.forEach(Array.from({ length: 10_000 }, (_, i) => i), cycle, { concurrency: 32, discard: true })

        assert.strictEqual(outcomes.ranToEnd, 6000)
        assert.strictEqual(outcomes.interruptedWhileRegistered, 2000)
        assert.strictEqual(outcomes.interruptedEarly + outcomes.finishedFirst, 2000)
        // Otherwise the racing cycles all hit the same point and tested less than they claim.
        assert.isAbove(outcomes.interruptedEarly, 0)
        assert.isAbove(outcomes.finishedFirst, 0)
        assert.isAtMost(peak, 32, "more registrations were live than fibers")
        assert.isAbove(peak, 1, "the cycles never overlapped: the test did not exercise concurrency")
        yield* assertBackTo(start, "after 10,000 cycles")
        // The driver's slot table is not the service's map: prove that no slot leaked either.
        assert.deepStrictEqual(yield* nextIds(40), idsBefore)
      }))
  })

  describe("BufferPool: footprint, interruption, a kept lease", () => {
    it.effect("one pool of 1000 × 512 B pins ceil(512000 / pageSize) pages; 1000 registrations pin 1000", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const start = yield* snapshot
        const poolPages = Math.ceil(512 * 1000 / io.pageSize)

        yield* Effect.scoped(Effect.gen(function*() {
          const pool = yield* BufferPool.make({ slotSize: 512, slots: 1000 })
          // The footprint promise: whole pages for all slots, at most one more for a misaligned start...
          assert.isAtMost(readVmPinKiB() - start.vmPinKiB, (poolPages + 1) * (io.pageSize / KiB))
          // ...and with the backend's page-aligned memory not even that one.
          yield* assertPinned(start, poolPages, 1)
          assert.strictEqual((yield* pool.stats).lockedPages, poolPages)
          // Leasing every slot is bookkeeping only: nothing more is pinned.
          yield* Effect.forEach(Array.from({ length: 1000 }), () => pool.lease, { discard: true })
          yield* assertPinned(start, poolPages, 1)
        }))
        yield* assertBackTo(start, "after the pool's scope")

        yield* Effect.scoped(Effect.gen(function*() {
          // Raw memory, so that the only pins are the 1000 registrations themselves.
          const memory = yield* rawMemory(1000 * io.pageSize)
          for (let i = 0; i < 1000; i++) {
            yield* RegisteredIo.registerBuffer(memory.subarray(i * io.pageSize, i * io.pageSize + 512))
          }
          yield* assertPinned(start, 1000, 1000)
        }))
        yield* assertBackTo(start, "after the registrations' scope")
      }))

    it.effect.prop(
      "every lease-taking operation under random interruption: the pool closes with all slots back, VmPin at its start",
      [FastCheck.array(
        FastCheck.record({
          kind: FastCheck.constantFrom("withLease", "lease", "tryLease", "tryWithLease"),
          hold: FastCheck.integer({ min: 0, max: 3 }),
          interruptAfter: FastCheck.option(FastCheck.integer({ min: 0, max: 4 }), { nil: undefined })
        }),
        { minLength: 1, maxLength: 48 }
      )],
      ([operations]) =>
        Effect.gen(function*() {
          const start = yield* snapshot
          yield* Effect.scoped(Effect.gen(function*() {
            const pool = yield* BufferPool.make({ slotSize: 4096, slots: 4 })
            const occupy = (n: number) => Effect.repeatN(Effect.yieldNow(), n)
            yield* Effect.forEach(operations, (op) =>
              Effect.gen(function*() {
                const run = op.kind === "withLease"
                  ? pool.withLease(() => occupy(op.hold))
                  : op.kind === "lease"
                  ? Effect.scoped(Effect.zipRight(pool.lease, occupy(op.hold)))
                  : op.kind === "tryLease"
                  ? Effect.scoped(Effect.zipRight(pool.tryLease, occupy(op.hold)))
                  : pool.tryWithLease(() => occupy(op.hold))
                const fiber = yield* Effect.fork(run)
                if (op.interruptAfter === undefined) return yield* Fiber.join(fiber)
                yield* Effect.repeatN(Effect.yieldNow(), op.interruptAfter)
                yield* Fiber.interrupt(fiber)
              }), { concurrency: 16, discard: true })
            assert.strictEqual((yield* pool.stats).leased, 0)
            yield* assertPinned(start, 4, 1)
          }))
          yield* assertBackTo(start, "after the pool's scope")
        }),
      { fastCheck: { numRuns: 100 } }
    )

    it.effect("a lease kept past the pool: WSAETIMEDOUT at the bound, the pages stay pinned until the layer closes", () =>
      Effect.gen(function*() {
        const vmPinBefore = readVmPinKiB()
        const layerScope = yield* Scope.make()
        const io = Context.get(
          yield* Layer.buildWithScope(KoffiRio.layerLinux(), layerScope),
          RegisteredIo.RegisteredIo
        )
        const poolScope = yield* Scope.make()
        const leaseScope = yield* Scope.make()
        const pool = yield* Scope.extend(
          BufferPool.make({ slotSize: io.pageSize, slots: 8, releaseTimeout: "2 seconds" }),
          poolScope
        ).pipe(Effect.provideService(RegisteredIo.RegisteredIo, io))
        const kept = yield* Scope.extend(pool.lease, leaseScope)
        kept.bytes.fill(0x11)
        const pinned = 8 * (io.pageSize / KiB)
        assert.strictEqual(readVmPinKiB() - vmPinBefore, pinned)

        const closing = yield* Effect.fork(Scope.close(poolScope, Exit.void))
        yield* TestClock.adjust("2 seconds")
        const exit = yield* Fiber.await(closing)
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(defect) && defect.value instanceof RioError.WSAETIMEDOUT)
        // Deliberately left pinned: the kernel may still be using a leased slot.
        assert.strictEqual(readVmPinKiB() - vmPinBefore, pinned)
        assert.strictEqual(kept.bytes[0], 0x11)
        yield* Scope.close(leaseScope, Exit.void)
        assert.strictEqual(readVmPinKiB() - vmPinBefore, pinned)
        // The process is healthy and the backend serves on...
        yield* Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(64))).pipe(
          Effect.provideService(RegisteredIo.RegisteredIo, io)
        )
        // ...and closing it releases what was left.
        yield* Scope.close(layerScope, Exit.void)
        assert.strictEqual(readVmPinKiB(), vmPinBefore)
      }))
  })
})
