/**
 * `RegisteredIo` conformance on every backend: validation before any native call, native
 * rejections, registrations and slices (release: `release.test.ts`).
 */
import { RegisteredIo, RioBuf } from "@effect-rio/core"
import { assert, describe } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { describeBackends } from "./describeBackends.js"
import { detachedBuffer, outcome, scopedOutcome, stats } from "./registeredIoParts.js"

describeBackends("conformance", (it) => {
  describe("validation before any native call", () => {
    it.effect("length 0 is WSAEINVAL, as an explicit length or an empty buffer", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(new Uint8Array(16), 0)), "WSAEINVAL")
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(new Uint8Array(0))), "WSAEINVAL")
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(new ArrayBuffer(0))), "WSAEINVAL")
      }))

    it.effect("a length beyond the memory is WSAEFAULT and never clamped", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(new Uint8Array(100), 101)), "WSAEFAULT")
        const view = new Uint8Array(4096).subarray(10, 20)
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(view, 11)), "WSAEFAULT")
      }))

    it.effect("a detached ArrayBuffer, or a view of one, is WSAEFAULT", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(detachedBuffer())), "WSAEFAULT")
        const buffer = new ArrayBuffer(64)
        const view = new Uint8Array(buffer)
        structuredClone(buffer, { transfer: [buffer] })
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(view)), "WSAEFAULT")
        assert.strictEqual(yield* scopedOutcome(RegisteredIo.registerBuffer(view, 8)), "WSAEFAULT")
      }))

    it.effect("null, undefined and non-buffers are WSAEFAULT", () =>
      Effect.gen(function*() {
        for (const data of [null, undefined, "bytes", 42, {}, [1, 2, 3], new Uint16Array(4)]) {
          const result = yield* scopedOutcome(RegisteredIo.registerBuffer(data as unknown as Uint8Array))
          assert.strictEqual(result, "WSAEFAULT", `for ${String(data)}`)
        }
      }))

    it.effect.prop(
      "negative, fractional, NaN, infinite or > 0xFFFFFFFF lengths are WSAEINVAL",
      [FastCheck.oneof(
        FastCheck.integer({ max: -1 }),
        FastCheck.double({ noInteger: true }),
        FastCheck.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 32),
        FastCheck.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER })
      )],
      ([length]) =>
        Effect.gen(function*() {
          const before = yield* stats
          assert.strictEqual(
            yield* scopedOutcome(RegisteredIo.registerBuffer(new Uint8Array(64), length)),
            "WSAEINVAL"
          )
          assert.deepStrictEqual(yield* stats, before)
        }),
      { fastCheck: { numRuns: 200 } }
    )

    it.effect("a length over the backend's per-registration limit is WSAEINVAL with the limit named", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const error = yield* Effect.flip(
          io.rawRegisterBuffer(RegisteredIo.nativeAddress(0x1000n, io.maxBufferLength + 1), io.maxBufferLength + 1)
        )
        assert.strictEqual(error._tag, "WSAEINVAL")
        assert.strictEqual(error.code, 10022)
        assert.include(error.message, "DataLength")
      }))
  })

  describe("native rejections", () => {
    it.effect("a null address through the raw primitive is WSAEFAULT", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const error = yield* Effect.flip(io.rawRegisterBuffer(RegisteredIo.nativeAddress(0n, 4096)))
        assert.strictEqual(error._tag, "WSAEFAULT")
        assert.strictEqual(error.code, 10014)
      }))

    it.effect("an unmapped address through the raw primitive is WSAEFAULT", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        // The second page of the address space is never mapped (Linux mmap_min_addr, Windows' null region).
        const error = yield* Effect.flip(io.rawRegisterBuffer(RegisteredIo.nativeAddress(0x1000n, 4096)))
        assert.strictEqual(error._tag, "WSAEFAULT")
        assert.deepStrictEqual(yield* io.stats, before)
      }))

    it.effect("deregistering an unknown or already released id is WSAEINVAL", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const id = yield* io.rawRegisterBuffer(new Uint8Array(128))
        yield* io.rawDeregisterBuffer(id)
        assert.strictEqual((yield* Effect.flip(io.rawDeregisterBuffer(id)))._tag, "WSAEINVAL")
        const unknown = RegisteredIo.nativeAddress(0n, 1) && (123_456 as RegisteredIo.BufferId)
        assert.strictEqual((yield* Effect.flip(io.rawDeregisterBuffer(unknown)))._tag, "WSAEINVAL")
      }))

    it.scoped("a scope-owned id cannot be deregistered through the raw primitive", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(64))
        const error = yield* Effect.flip(io.rawDeregisterBuffer(registration.id))
        assert.strictEqual(error._tag, "WSAEINVAL")
        assert.isFalse(registration.isReleased)
      }))
  })

  describe("registrations", () => {
    it.effect("the view covers exactly the registered bytes, without copy", () =>
      Effect.gen(function*() {
        const data = new Uint8Array(1000)
        const registration = yield* Effect.scoped(Effect.gen(function*() {
          const registration = yield* RegisteredIo.registerBuffer(data, 100)
          assert.strictEqual(registration.byteLength, 100)
          assert.strictEqual(registration.bytes.byteLength, 100)
          registration.bytes[99] = 7
          assert.strictEqual(data[99], 7)
          return registration
        }))
        assert.isTrue(registration.isReleased)
      }))

    it.effect("two live registrations never share an id; ids are reused only after release", () =>
      Effect.gen(function*() {
        const ids = yield* Effect.scoped(Effect.gen(function*() {
          const registrations = yield* Effect.forEach(
            Array.from({ length: 64 }, () => new Uint8Array(256)),
            (data) => RegisteredIo.registerBuffer(data)
          )
          return registrations.map((registration) => registration.id)
        }))
        assert.strictEqual(new Set(ids).size, 64)
        const io = yield* RegisteredIo.RegisteredIo
        const live = new Set<number>()
        for (let i = 0; i < 32; i++) live.add(yield* io.rawRegisterBuffer(new Uint8Array(32)))
        assert.strictEqual(live.size, 32)
        for (const id of live) yield* io.rawDeregisterBuffer(id as RegisteredIo.BufferId)
      }))

    it.effect("stats count buffers, bytes and whole pages, and return after the scope", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        yield* Effect.scoped(Effect.gen(function*() {
          const memory = yield* RegisteredIo.allocateBuffer(io.pageSize * 3)
          const during = yield* io.stats
          assert.strictEqual(during.registeredBuffers, before.registeredBuffers + 1)
          assert.strictEqual(during.registeredBytes, before.registeredBytes + io.pageSize * 3)
          assert.strictEqual(during.lockedPages, before.lockedPages + 3)
          assert.strictEqual(memory.address % BigInt(io.pageSize), 0n)
        }))
        assert.deepStrictEqual(yield* io.stats, before)
      }))

    it.effect("two 100-byte registrations on different pages lock two pages; one across a boundary locks two", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        const before = yield* io.stats
        const memory = yield* io.rawAllocate(io.pageSize * 2)
        yield* Effect.scoped(Effect.gen(function*() {
          yield* RegisteredIo.registerBuffer(memory.subarray(0, 100))
          yield* RegisteredIo.registerBuffer(memory.subarray(io.pageSize, io.pageSize + 100))
          assert.strictEqual((yield* io.stats).lockedPages, before.lockedPages + 2)
        }))
        yield* Effect.scoped(Effect.gen(function*() {
          yield* RegisteredIo.registerBuffer(memory.subarray(io.pageSize - 50, io.pageSize + 50))
          assert.strictEqual((yield* io.stats).lockedPages, before.lockedPages + 2)
        }))
        yield* io.rawFree(memory)
        assert.deepStrictEqual(yield* io.stats, before)
      }))

    it.effect("allocateBuffer gives zeroed, page-aligned memory of exactly the size asked", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        yield* Effect.scoped(Effect.gen(function*() {
          const registration = yield* RegisteredIo.allocateBuffer(5000)
          assert.strictEqual(registration.byteLength, 5000)
          assert.strictEqual(registration.address % BigInt(io.pageSize), 0n)
          assert.isTrue(registration.bytes.every((byte) => byte === 0))
          registration.bytes.fill(0xab)
        }))
      }))

    it.effect("a view kept after allocateBuffer's scope reads zeros and never reaches new memory", () =>
      Effect.gen(function*() {
        const stale = yield* Effect.scoped(Effect.map(RegisteredIo.allocateBuffer(3000), (registration) => {
          registration.bytes.fill(0xab)
          return registration.bytes
        }))
        // Freed: the old bytes are gone (never leaked to the next user), and touching it is safe.
        assert.isTrue(stale.every((byte) => byte === 0))
        stale.fill(0xcd)
        yield* Effect.scoped(
          Effect.map(RegisteredIo.allocateBuffer(3000), (registration) =>
            assert.isTrue(
              registration.bytes.every((byte) => byte === 0),
              "a stale write reached fresh memory"
            ))
        )
      }))

    it.effect("raw memory: free of unknown, twice-freed or registered memory is WSAEINVAL", () =>
      Effect.gen(function*() {
        const io = yield* RegisteredIo.RegisteredIo
        assert.strictEqual(yield* outcome(io.rawFree(new Uint8Array(10))), "WSAEINVAL")
        const memory = yield* io.rawAllocate(100)
        const id = yield* io.rawRegisterBuffer(memory)
        assert.strictEqual(yield* outcome(io.rawFree(memory)), "WSAEINVAL")
        yield* io.rawDeregisterBuffer(id)
        yield* io.rawFree(memory)
        assert.strictEqual(yield* outcome(io.rawFree(memory)), "WSAEINVAL")
        // A stale view is safe to touch.
        memory[0] = 1
        assert.strictEqual(yield* outcome(io.rawAllocate(0)), "WSAEINVAL")
      }))
  })

  describe("slices", () => {
    it.scoped("slices inside the registration are RioBufs of the registration's id", () =>
      Effect.gen(function*() {
        const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(512))
        const buf = yield* registration.slice(500, 12)
        assert.deepStrictEqual(buf, { bufferId: registration.id, offset: 500, length: 12 })
      }))

    it.effect.prop(
      "slices out of range, empty or non-integral are WSAEINVAL",
      [
        FastCheck.oneof(FastCheck.integer({ min: -10, max: 600 }), FastCheck.double()),
        FastCheck.oneof(FastCheck.integer({ min: -10, max: 600 }), FastCheck.double())
      ],
      ([offset, length]) =>
        Effect.scoped(Effect.gen(function*() {
          const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(512))
          const valid = Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length > 0 &&
            offset + length <= 512
          const result = yield* outcome(registration.slice(offset, length))
          assert.strictEqual(result, valid ? "success" : "WSAEINVAL")
          assert.strictEqual(RioBuf.validate(registration, offset, length) instanceof Error, !valid)
        })),
      { fastCheck: { numRuns: 300 } }
    )

    it.effect("slices and tokens after release are WSAEINVAL (use after release)", () =>
      Effect.gen(function*() {
        const registration = yield* Effect.scoped(RegisteredIo.registerBuffer(new Uint8Array(64)))
        assert.strictEqual(yield* outcome(registration.slice(0, 1)), "WSAEINVAL")
        assert.strictEqual(yield* outcome(registration.acquireToken), "WSAEINVAL")
      }))
  })
})
