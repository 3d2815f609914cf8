/**
 * The Winsock RIO driver on Windows Node: against the system's Winsock (which under Wine
 * has no RIO) and against the reference provider DLL through the driver's ABI-test seam.
 * The provider runs the 13 RIO functions for real, so these tests exercise the binding's
 * decoding, calling convention and WSAGetLastError protocol exactly as production does.
 * They look only through the driver's contract, the provider's own exports, the OS, and a
 * function table of their own decoded by the same binding (`reference.ts`).
 * Windows-only (`*.win32.test.ts`): the root vitest config leaves it out; test/wine/run.sh
 * runs it under Wine, and the Windows workflow on a real runner.
 */
import type * as BufferId from "@effect-rio/core/BufferId"
import * as BufferPool from "@effect-rio/core/BufferPool"
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import type * as RioBuf from "@effect-rio/core/RioBuf"
import type * as RioError from "@effect-rio/core/RioError"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import koffi from "koffi"
import * as Abi from "../../src/internal/windows/abi.js"
import * as WindowsDriver from "../../src/internal/windows/driver.js"
import type { RioFunctions } from "../../src/internal/windows/functionTable.js"
import * as Winsock from "../../src/internal/windows/winsock.js"
import { provider, providerAvailable, providerDriver, providerLayer, providerPath, providerRio } from "./reference.js"
import { isWine, MEM_COMMIT, MEM_FREE, win32 } from "./win32.js"

const withProvider = providerDriver()

const isError = (value: unknown): value is RioError.RioError => value instanceof Error && "_tag" in value

const expectError = (value: unknown, tag: RioError.RioError["_tag"], code: number): RioError.RioError => {
  assert.isTrue(isError(value), `expected ${tag}, got ${String(value)}`)
  const error = value as RioError.RioError
  assert.strictEqual(error._tag, tag)
  assert.strictEqual(error.code, code)
  return error
}

const results = (rio: RioFunctions, cq: bigint, max: number) => {
  const size = koffi.sizeof(Abi.RIORESULT)
  const buffer = new Uint8Array(size * max)
  const n = rio.RIODequeueCompletion(cq, buffer, max)
  if (n === Abi.RIO_CORRUPT_CQ) return "corrupt" as const
  return Array.from({ length: n }, (_, i) =>
    koffi.decode(buffer, i * size, Abi.RIORESULT) as {
      Status: number
      BytesTransferred: number
      SocketContext: number | bigint
      RequestContext: number | bigint
    })
}

describe("Winsock RIO driver, system Winsock", () => {
  it.effect("Wine: RioUnavailable 10045 that says what it means; Windows: a working driver", () =>
    Effect.gen(function*() {
      // On Windows, the system's table registers and deregisters a page for real.
      const exit = yield* Effect.exit(Effect.scoped(Effect.map(WindowsDriver.make(), (driver) => {
        const memory = driver.allocate(4096)
        if (isError(memory)) return memory
        const id = driver.register(memory.address, 4096)
        const result = isError(id) ? id : driver.deregister(id)
        driver.free(memory)
        return result
      })))
      if (isWine()) {
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(error))
        const { _tag, code, message } = Option.getOrThrow(error)
        assert.strictEqual(_tag, "RioUnavailable")
        assert.strictEqual(code, 10045)
        assert.include(message, "no Registered I/O extension (WSAEOPNOTSUPP 10045)")
        assert.include(message, "Windows 8 / Server 2012")
      } else {
        assert.isTrue(Exit.isSuccess(exit))
        if (Exit.isSuccess(exit)) assert.isUndefined(exit.value)
      }
    }))
})

describe("Winsock RIO driver through the reference provider", () => {
  it("the reference provider DLL is built (test/wine/run.sh)", () => {
    assert.isTrue(providerAvailable, `missing ${providerPath}`)
  })

  it.scoped("reports the Windows x64 facts and takes its table from the provider", () =>
    Effect.gen(function*() {
      const before = provider().functionTableRequests()
      const driver = yield* withProvider
      assert.strictEqual(driver.backend, "winsock")
      assert.strictEqual(driver.pageSize, 4096)
      assert.strictEqual(driver.maxBufferLength, 0xFFFFFFFF)
      assert.strictEqual(provider().functionTableRequests(), before + 1)
    }))

  it.scoped("allocate: page-aligned, zeroed, and addressOf honours byteOffset", () =>
    Effect.gen(function*() {
      const driver = yield* withProvider
      const memory = driver.allocate(10_000)
      assert.isFalse(isError(memory))
      if (isError(memory)) return
      assert.strictEqual(memory.address % 4096n, 0n)
      assert.strictEqual(memory.bytes.byteLength, 10_000)
      assert.isTrue(memory.bytes.every((byte) => byte === 0))
      assert.strictEqual(driver.addressOf(memory.bytes), memory.address)
      assert.strictEqual(driver.addressOf(memory.bytes.subarray(100)), memory.address + 100n)
      const heap = new Uint8Array(64)
      assert.strictEqual(driver.addressOf(heap.subarray(8)), driver.addressOf(heap) + 8n)
      driver.free(memory)
    }))

  it.scoped("BufferIds are small integers, lowest free first, over opaque native ids", () =>
    Effect.gen(function*() {
      const driver = yield* withProvider
      const before = provider().stats()
      const memory = driver.allocate(3 * 4096)
      if (isError(memory)) return assert.fail(String(memory))
      const ids = [0, 1, 2].map((i) => driver.register(memory.address + BigInt(i * 4096), 4096))
      assert.deepStrictEqual<unknown>(ids, [0, 1, 2])
      // The provider's ids for the same registrations are opaque pointers.
      for (const i of [0, 1, 2]) {
        const native = provider().findRegistration(memory.address + BigInt(i * 4096))
        assert.isDefined(native)
        assert.isTrue(native! > 0xFFFFn, `native id 0x${native!.toString(16)} is a small integer`)
      }
      assert.strictEqual(provider().stats().LiveRegistrations, before.LiveRegistrations + 3)
      assert.strictEqual(provider().stats().LockedPages, before.LockedPages + 3)
      assert.isUndefined(driver.deregister(ids[1] as BufferId.BufferId))
      assert.strictEqual<unknown>(driver.register(memory.address + 4096n, 100), 1)
      for (const id of ids as Array<BufferId.BufferId>) assert.isUndefined(driver.deregister(id))
      assert.deepStrictEqual(provider().stats().LiveRegistrations, before.LiveRegistrations)
      driver.free(memory)
    }))

  it.scoped("RIO_INVALID_BUFFERID + WSAGetLastError become typed errors", () =>
    Effect.gen(function*() {
      const driver = yield* withProvider
      const memory = driver.allocate(4096)
      if (isError(memory)) return assert.fail(String(memory))
      assert.deepStrictEqual(expectError(driver.register(0n, 16), "WSAEFAULT", 10014).cause, { lastError: 10014 })
      // Below 64 KiB nothing is ever mapped on Windows.
      expectError(driver.register(0x1000n, 16), "WSAEFAULT", 10014)
      // One byte past a committed page runs into unmapped memory.
      expectError(driver.register(memory.address + 1n, 4096), "WSAEFAULT", 10014)
      // The core never passes a zero length; the native mapping still has to be right.
      expectError(driver.register(memory.address, 0), "WSAEINVAL", 10022)

      const live = provider().stats().LiveRegistrations
      provider().setLimits(live + 1, 0)
      try {
        const first = driver.register(memory.address, 64)
        assert.isFalse(isError(first))
        const error = expectError(driver.register(memory.address, 64), "WSAENOBUFS", 10055)
        assert.include(error.message, "fewer, larger buffers")
        driver.deregister(first as BufferId.BufferId)
      } finally {
        provider().setLimits(0, 0)
      }

      // A code the documentation does not list (WSAENETDOWN) is kept, not guessed at.
      provider().failNextRegistration(10050)
      expectError(driver.register(memory.address, 64), "RioSystemError", 10050)
      driver.free(memory)
    }))

  it.scoped("deregistering an id the provider no longer knows is WSAEINVAL, not silence", () =>
    Effect.gen(function*() {
      const driver = yield* withProvider
      const { rio } = yield* providerRio
      const memory = driver.allocate(4096)
      if (isError(memory)) return assert.fail(String(memory))
      const id = driver.register(memory.address, 4096)
      if (isError(id)) return assert.fail(String(id))
      const before = provider().stats()
      // Pull the registration out from under the driver, through a table of the same provider.
      rio.RIODeregisterBuffer(provider().findRegistration(memory.address)!)
      const error = expectError(driver.deregister(id), "WSAEINVAL", 10022)
      assert.include(error.message, "did not know the native id")
      assert.strictEqual(provider().stats().InvalidDeregistrations, before.InvalidDeregistrations + 1)
      // The small id is free again.
      assert.strictEqual<unknown>(driver.register(memory.address, 16), id)
      driver.free(memory)
    }))

  it.scoped("free: stale views stay readable and writable, read zeros, and do not leak old bytes", () =>
    Effect.gen(function*() {
      const driver = yield* withProvider
      const memory = driver.allocate(3 * 4096)
      if (isError(memory)) return assert.fail(String(memory))
      memory.bytes.fill(0xAB)
      driver.free(memory)
      assert.strictEqual(win32().query(memory.address).State, MEM_COMMIT)
      assert.isTrue(memory.bytes.every((byte) => byte === 0))
      memory.bytes[5000] = 7
      assert.strictEqual(memory.bytes[5000], 7)
      driver.free(memory) // twice is harmless
    }))

  // Needs --expose-gc, which test/wine/vitest.config.ts passes.
  const gc = (globalThis as { gc?: () => void }).gc
  it.scoped(
    "a freed region is released (MEM_RELEASE) once its views are garbage",
    () =>
      Effect.gen(function*() {
        assert.isDefined(gc, "run with --expose-gc (test/wine/vitest.config.ts passes it)")
        const driver = yield* withProvider
        const address = (() => {
          const memory = driver.allocate(4096)
          if (isError(memory)) throw memory
          driver.free(memory)
          return memory.address
        })()
        for (let i = 0; i < 50 && win32().query(address).State !== MEM_FREE; i++) {
          gc!()
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        }
        assert.strictEqual(win32().query(address).State, MEM_FREE)
      })
  )

  it.scoped("all 13 functions through the decoded table: queues, send, receive, dequeue, notify, resize, close", () =>
    Effect.gen(function*() {
      const driver = yield* withProvider
      const { rio, ws } = yield* providerRio
      const k32 = win32()
      const before = provider().stats()

      const memory = driver.allocate(4096)
      if (isError(memory)) return assert.fail(String(memory))
      const BufferId = rio.RIORegisterBuffer(memory.address, 4096)
      assert.notStrictEqual(BufferId, Abi.RIO_INVALID_BUFFERID)

      const event = k32.CreateEventW()
      const cq = rio.RIOCreateCompletionQueue(8, {
        Type: Abi.RIO_EVENT_COMPLETION,
        u: { Event: { EventHandle: event, NotifyReset: 1 } }
      })
      assert.notStrictEqual(cq, Abi.RIO_INVALID_CQ)
      const socket = Winsock.openSocket(ws)
      if (typeof socket !== "bigint") return assert.fail(`WSASocketW failed with ${socket.code}`)
      const rq = rio.RIOCreateRequestQueue(socket, 2, 1, 2, 1, cq, cq, 0x5150n)
      assert.notStrictEqual(rq, Abi.RIO_INVALID_RQ)
      assert.strictEqual(provider().stats().LiveRequestQueues, before.LiveRequestQueues + 1)

      // Arm, then a receive and a send: the loopback delivers the bytes and both complete.
      assert.strictEqual(rio.RIONotify(cq), 0)
      assert.strictEqual(rio.RIONotify(cq), Abi.WSAEALREADY)
      memory.bytes.set([1, 2, 3, 4, 5], 0)
      assert.strictEqual(rio.RIOReceive(rq, { BufferId, Offset: 1024, Length: 512 }, 1, 0, 0x77n), 1)
      assert.strictEqual(k32.WaitForSingleObject(event, 0), 0x102) // WAIT_TIMEOUT: nothing yet
      assert.strictEqual(rio.RIOSend(rq, { BufferId, Offset: 0, Length: 5 }, 1, 0, 0x1234n), 1)
      assert.strictEqual(k32.WaitForSingleObject(event, 0), 0) // WAIT_OBJECT_0
      const done = results(rio, cq, 8)
      if (done === "corrupt") return assert.fail("corrupt CQ")
      assert.strictEqual(done.length, 2)
      const byContext = new Map(done.map((r) => [BigInt(r.RequestContext), r]))
      assert.deepInclude(byContext.get(0x1234n), { Status: 0, BytesTransferred: 5 })
      assert.deepInclude(byContext.get(0x77n), { Status: 0, BytesTransferred: 5 })
      assert.strictEqual(BigInt(done[0]!.SocketContext), 0x5150n)
      assert.deepStrictEqual(Array.from(memory.bytes.subarray(1024, 1029)), [1, 2, 3, 4, 5])

      // Ex variants with a remote-address slice, deferred until committed.
      assert.strictEqual(
        rio.RIOReceiveEx(
          rq,
          { BufferId, Offset: 2048, Length: 64 },
          1,
          null,
          {
            BufferId,
            Offset: 3072,
            Length: 28
          },
          null,
          null,
          0,
          1n
        ),
        1
      )
      assert.strictEqual(
        rio.RIOSendEx(rq, { BufferId, Offset: 0, Length: 3 }, 1, null, null, null, null, Abi.RIO_MSG_DEFER, 2n),
        1
      )
      assert.deepStrictEqual(results(rio, cq, 8), [])
      assert.strictEqual(rio.RIOSend(rq, null, 0, Abi.RIO_MSG_COMMIT_ONLY, null), 1)
      const ex = results(rio, cq, 8)
      if (ex === "corrupt") return assert.fail("corrupt CQ")
      assert.deepStrictEqual(ex.map((r) => [Number(r.RequestContext), r.Status, r.BytesTransferred]).sort(), [
        [1, 0, 3],
        [2, 0, 3]
      ])
      assert.strictEqual(new DataView(memory.bytes.buffer, memory.bytes.byteOffset).getUint16(3072, true), 2) // AF_INET

      // Documented argument checks, each with its WSAGetLastError code.
      const lastError = () => ws.WSAGetLastError()
      assert.strictEqual(rio.RIOSend(rq, { BufferId: 0xDEADn, Offset: 0, Length: 1 }, 1, 0, null), 0)
      assert.strictEqual(lastError(), Abi.WSAEFAULT)
      assert.strictEqual(rio.RIOSend(rq, { BufferId, Offset: 4000, Length: 200 }, 1, 0, null), 0)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIOSend(rq, null, 0, Abi.RIO_MSG_WAITALL, null), 0)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIOReceive(0x1n, null, 0, 0, null), 0)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIOCreateCompletionQueue(0, null), Abi.RIO_INVALID_CQ)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIOCreateCompletionQueue(Abi.RIO_MAX_CQ_SIZE + 1, null), Abi.RIO_INVALID_CQ)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIOCreateRequestQueue(socket, 1, 1, 1, 1, Abi.RIO_INVALID_CQ, cq, null), 0n)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIODequeueCompletion(0xBADn, new Uint8Array(24), 1), Abi.RIO_CORRUPT_CQ)
      assert.strictEqual(rio.RIONotify(Abi.RIO_INVALID_CQ), Abi.WSAEINVAL)

      // Resizing: below what is reserved is WSAETOOMANYREFS; both zero is WSAEINVAL.
      assert.strictEqual(rio.RIOResizeCompletionQueue(cq, 2), 0)
      assert.strictEqual(lastError(), Abi.WSAETOOMANYREFS)
      assert.strictEqual(rio.RIOResizeCompletionQueue(cq, 16), 1)
      assert.strictEqual(rio.RIOResizeRequestQueue(rq, 0, 0), 0)
      assert.strictEqual(lastError(), Abi.WSAEINVAL)
      assert.strictEqual(rio.RIOResizeRequestQueue(rq, 4, 4), 1)

      // A request holds its registration until its completion is dequeued.
      assert.strictEqual(rio.RIOReceive(rq, { BufferId, Offset: 0, Length: 16 }, 1, 0, 9n), 1)
      assert.strictEqual(provider().stats().OutstandingRequests, before.OutstandingRequests + 1)

      // closesocket frees the request queue (its pending receive is aborted into the CQ).
      assert.strictEqual(ws.closesocket(socket), 0)
      assert.strictEqual(provider().stats().LiveRequestQueues, before.LiveRequestQueues)
      const aborted = results(rio, cq, 8)
      if (aborted === "corrupt") return assert.fail("corrupt CQ")
      assert.deepStrictEqual(aborted.map((r) => [Number(r.RequestContext), r.Status]), [[9, 995]])
      assert.strictEqual(provider().stats().OutstandingRequests, before.OutstandingRequests)

      rio.RIOCloseCompletionQueue(cq)
      rio.RIOCloseCompletionQueue(cq) // unknown now: ignored, as documented
      assert.strictEqual(provider().stats().LiveCompletionQueues, before.LiveCompletionQueues)
      k32.CloseHandle(event)
      ws.WSASetLastError(0)
      rio.RIODeregisterBuffer(BufferId)
      assert.strictEqual(lastError(), 0)
      assert.strictEqual(provider().stats().DeregistrationsWithIoOutstanding, before.DeregistrationsWithIoOutstanding)
      driver.free(memory)
    }))

  it.effect("the RegisteredIo service over the driver: registrations end with their scope", () =>
    Effect.gen(function*() {
      const before = provider().stats()
      const layer = providerLayer()
      yield* Effect.gen(function*() {
        const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(10_000))
        assert.strictEqual(provider().stats().LiveRegistrations, before.LiveRegistrations + 1)
        assert.strictEqual(registration.byteLength, 10_000)
      }).pipe(Effect.scoped, Effect.provide(layer))
      const after = provider().stats()
      assert.strictEqual(after.LiveRegistrations, before.LiveRegistrations)
      assert.strictEqual(after.TotalRegistrations, before.TotalRegistrations + 1)
      assert.strictEqual(after.DeregistrationsWithIoOutstanding, before.DeregistrationsWithIoOutstanding)
    }))

  // RIO has no per-request cancel: the driver closes the stream (closesocket), which ends
  // every request of its queue. io_uring and the double keep the stream usable.
  it.live("a cancelled TCP receive closes its stream: it comes back with its completion, later operations are WSAECONNABORTED, other sockets go on", () =>
    Effect.gen(function*() {
      const before = provider().stats()
      const pool = yield* BufferPool.make({ slotSize: 64, slots: 2 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const accepting = yield* Effect.fork(listener.accept)
      const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const server = yield* Fiber.join(accepting)
      const registration = pool.registration
      const slice = registration.unsafeSlice(0, 64) as RioBuf.RioBuf
      const pending = yield* Effect.fork(client.receive(slice))
      while (registration.inFlight === 0) yield* Effect.sleep("5 millis")
      assert.isTrue(Exit.isInterrupted(yield* Fiber.interrupt(pending)))
      assert.strictEqual(registration.inFlight, 0)
      assert.strictEqual((yield* Effect.flip(client.receive(slice)))._tag, "WSAECONNABORTED")
      assert.strictEqual((yield* Effect.flip(client.send(slice)))._tag, "WSAECONNABORTED")
      // The peer sees the stream end.
      const ended = yield* Effect.either(server.receive(registration.unsafeSlice(0, 64) as RioBuf.RioBuf))
      assert.isTrue(ended._tag === "Left" ? ended.left._tag === "WSAECONNRESET" : ended.right === 0)
      // The listener still accepts, and a new stream echoes.
      const accepting2 = yield* Effect.fork(listener.accept)
      const again = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      const peer = yield* Fiber.join(accepting2)
      registration.bytes.set([1, 2, 3])
      yield* again.sendAll(registration.unsafeSlice(0, 3) as RioBuf.RioBuf)
      const got = yield* peer.receive(registration.unsafeSlice(8, 8) as RioBuf.RioBuf)
      assert.deepStrictEqual([...registration.bytes.subarray(8, 8 + got)], [1, 2, 3].slice(0, got))
      assert.strictEqual(provider().stats().DeregistrationsWithIoOutstanding, before.DeregistrationsWithIoOutstanding)
    }).pipe(Effect.scoped, Effect.provide(providerLayer())))
})
