/**
 * The Windows backend: Winsock Registered I/O through Koffi.
 *
 * `make` acquires, in its scope: WSAStartup(2.2) … WSACleanup; a UDP socket opened with
 * WSA_FLAG_REGISTERED_IO … closesocket; the RIO function table (WSAIoctl, or a provider DLL
 * for ABI tests). Any failure there is a `RioUnavailable` carrying the Winsock code. The
 * driver it returns implements the core's synchronous `Driver` contract:
 *
 * - `register` calls RIORegisterBuffer and, on RIO_INVALID_BUFFERID ((ULONG_PTR)0xFFFFFFFF),
 *   reads WSAGetLastError immediately (Koffi keeps the thread's last error intact) and maps
 *   WSAEFAULT / WSAEINVAL / WSAENOBUFS to their typed errors, anything else to
 *   RioSystemError with the code. It never throws.
 * - A RIO_BUFFERID is a pointer-sized opaque value (a pointer on real Windows), while the
 *   core's BufferId is a small JS number: the driver keeps a table from small integers
 *   (lowest free first, like io_uring slots and the test double) to the native ids.
 * - `deregister` calls RIODeregisterBuffer, which returns nothing and is documented to
 *   ignore unknown ids. We clear the last error before the call and read it after: a
 *   WSAEINVAL means the provider did not know the id — our table and the provider disagree,
 *   a bug that must not pass silently — and any other code is unexpected, so both are
 *   returned. The small id is released either way: the native side holds no registration
 *   under it any more.
 * - Memory comes from VirtualAlloc; see `memory.ts` for why `free` decommits and recommits
 *   instead of releasing.
 *
 * @internal
 */
import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import * as Abi from "./abi.js"
import * as Memory from "./memory.js"
import * as Net from "./net.js"
import * as Winsock from "./winsock.js"

/** Options of {@link make}. */
export interface Options {
  /**
   * Path of a DLL exporting `RioReferenceGetFunctionTable` to take the RIO function table
   * from instead of WSAIoctl. For ABI testing only (see `winsock.ts`): production code
   * leaves it unset.
   */
  readonly provider?: string
  /**
   * Initial size of the completion queue shared by the layer's sockets (default 1024). It
   * grows as request queues are added, so that it never overflows.
   */
  readonly completionQueueSize?: number
}

/**
 * The driver plus what the networking layer needs from the same table: the decoded RIO
 * functions, the Winsock entry points, the socket the table came from and the native id
 * behind a BufferId.
 */
export interface WinsockDriver extends Driver {
  readonly functions: Winsock.RioFunctions
  readonly winsock: Winsock.Native
  readonly socket: bigint
  /** The RIO_BUFFERID behind a live BufferId. */
  readonly nativeBufferId: (id: BufferId.BufferId) => bigint | undefined
}

/** What the ABI tests inspect, kept off the driver's contract. */
export interface Diagnostics {
  /** Where the function table came from: `"WSAIoctl"` or the provider's path. */
  readonly source: string
  /** Allocations not yet given back with `free`. */
  readonly liveAllocations: () => number
}

const diagnosticsOf = new WeakMap<WinsockDriver, Diagnostics>()

/** The diagnostics of a driver made by {@link make}. */
export const diagnostics = (driver: WinsockDriver): Diagnostics => diagnosticsOf.get(driver)!

const unavailableMessage = (failure: Winsock.Failure): string => {
  const detail = failure.detail === undefined ? "" : ` (${failure.detail})`
  switch (failure.code) {
    case Abi.WSAEOPNOTSUPP:
      return `${failure.operation}: this Winsock provider has no Registered I/O extension (WSAEOPNOTSUPP 10045)${detail}: ` +
        "RIO needs Windows 8 / Server 2012 or later; Wine does not implement it."
    case Abi.WSAVERNOTSUPPORTED:
      return `${failure.operation}: Winsock 2.2 is not available (WSAVERNOTSUPPORTED 10092)${detail}.`
    default:
      return `${failure.operation} failed with error ${failure.code}${detail}: the Winsock registered I/O ` +
        "extension could not be set up on this system."
  }
}

const unavailable = (failure: Winsock.Failure): RioError.RioUnavailable =>
  new RioError.RioUnavailable({
    code: failure.code,
    operation: failure.operation,
    message: unavailableMessage(failure),
    cause: { lastError: failure.code }
  })

const fromFailure = <A>(result: A | Winsock.Failure): Effect.Effect<A, RioError.RioUnavailable> =>
  Winsock.isFailure(result) ? Effect.fail(unavailable(result)) : Effect.succeed(result)

/** Small integer ids, lowest free first, each standing for a native RIO_BUFFERID. */
class IdTable {
  private readonly native = new Map<number, bigint>()
  /** A binary min-heap of released ids below `next`. */
  private readonly released: Array<number> = []
  private next = 0

  get size(): number {
    return this.native.size
  }

  add(raw: bigint): number {
    const id = this.released.length > 0 ? this.pop() : this.next++
    this.native.set(id, raw)
    return id
  }

  get(id: number): bigint | undefined {
    return this.native.get(id)
  }

  delete(id: number): void {
    if (this.native.delete(id)) this.push(id)
  }

  entries(): Array<[number, bigint]> {
    return Array.from(this.native)
  }

  private push(id: number): void {
    const heap = this.released
    heap.push(id)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]! <= heap[i]!) break
      ;[heap[parent], heap[i]] = [heap[i]!, heap[parent]!]
      i = parent
    }
  }

  private pop(): number {
    const heap = this.released
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let smallest = i
        if (l < heap.length && heap[l]! < heap[smallest]!) smallest = l
        if (r < heap.length && heap[r]! < heap[smallest]!) smallest = r
        if (smallest === i) break
        ;[heap[smallest], heap[i]] = [heap[i]!, heap[smallest]!]
        i = smallest
      }
    }
    return top
  }
}

const registerError = (
  code: number,
  address: bigint,
  length: number
): RioError.RegisterError | RioError.RioSystemError => {
  const operation = "RIORegisterBuffer"
  const cause = { lastError: code }
  const range = `0x${address.toString(16)} (+${length} bytes)`
  switch (code) {
    case Abi.WSAEFAULT:
      return new RioError.WSAEFAULT({
        operation,
        message: `RIORegisterBuffer rejected ${range}: it is not committed, writable memory of this process.`,
        cause
      })
    case Abi.WSAEINVAL:
      return new RioError.WSAEINVAL({
        operation,
        message: `RIORegisterBuffer rejected ${range}: invalid parameter (a zero length?).`,
        cause
      })
    case Abi.WSAENOBUFS:
      return new RioError.WSAENOBUFS({
        operation,
        message: `RIORegisterBuffer could not lock ${range} (WSAENOBUFS): the system is out of registration ` +
          "resources (working-set quota or non-paged pool). Register fewer, larger buffers — a BufferPool " +
          "registers one allocation once — or raise the process working-set size (SetProcessWorkingSetSize).",
        cause
      })
    default:
      return new RioError.RioSystemError({
        code,
        operation,
        message: `RIORegisterBuffer failed for ${range} with Winsock error ${code}.`,
        cause
      })
  }
}

const makeDriver = (
  ws: Winsock.Native,
  functions: Winsock.RioFunctions,
  socket: bigint,
  source: string,
  pageSize: number,
  completionQueueSize: number | undefined
): WinsockDriver => {
  const ids = new IdTable()
  const allocator = Memory.make(ws, pageSize)

  const deregister = (id: BufferId.BufferId): RioError.WSAEINVAL | RioError.RioSystemError | undefined => {
    const raw = ids.get(id)
    if (raw === undefined) {
      return new RioError.WSAEINVAL({
        operation: "RIODeregisterBuffer",
        message: `Buffer id ${id} is not registered with this Winsock driver.`
      })
    }
    ws.WSASetLastError(0)
    functions.RIODeregisterBuffer(raw)
    const code = ws.WSAGetLastError()
    ids.delete(id)
    if (code === 0) return undefined
    const cause = { lastError: code, bufferId: raw }
    if (code === Abi.WSAEINVAL) {
      return new RioError.WSAEINVAL({
        operation: "RIODeregisterBuffer",
        message: `RIODeregisterBuffer did not know the native id 0x${raw.toString(16)} behind buffer id ${id}: ` +
          "the registration was already gone.",
        cause
      })
    }
    return new RioError.RioSystemError({
      code,
      operation: "RIODeregisterBuffer",
      message: `RIODeregisterBuffer of buffer id ${id} left Winsock error ${code}.`,
      cause
    })
  }

  const nativeBufferId = (id: BufferId.BufferId) => ids.get(id)
  const net = Net.make({
    ws,
    rio: functions,
    allocator,
    nativeBufferId,
    ...(completionQueueSize === undefined ? {} : { completionQueueSize })
  })

  const driver: WinsockDriver = {
    backend: "winsock",
    pageSize,
    maxBufferLength: 0xFFFFFFFF,
    maxBufferLengthReason: "RIORegisterBuffer takes a DWORD length",
    // Koffi resolves a Uint8Array to its backing store plus byteOffset.
    addressOf: (bytes) => koffi.address(bytes),
    register: (address, length) => {
      const raw = functions.RIORegisterBuffer(address, length)
      if (raw === Abi.RIO_INVALID_BUFFERID) return registerError(ws.WSAGetLastError(), address, length)
      return BufferId.unsafeMake(ids.add(raw))
    },
    deregister: (id) => deregister(id),
    allocate: allocator.allocate,
    free: allocator.free,
    close: () => {
      net.shutdownAll()
      // The core deregisters everything first; this only guards against a caller that did not.
      for (const [id] of ids.entries()) deregister(BufferId.unsafeMake(id))
    },
    functions,
    winsock: ws,
    socket,
    nativeBufferId,
    net
  }
  diagnosticsOf.set(driver, { source, liveAllocations: allocator.live })
  return driver
}

/**
 * Builds the Winsock RIO driver in the current scope. Fails with `RioUnavailable` off
 * Windows, when Winsock cannot start, and when the system has no RIO (WSAEOPNOTSUPP 10045,
 * which is what Wine answers).
 *
 * @internal
 */
export const make = (options?: Options): Effect.Effect<WinsockDriver, RioError.RioUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    if (process.platform !== "win32") {
      return yield* Effect.fail(
        new RioError.RioUnavailable({
          code: Abi.WSAEOPNOTSUPP,
          operation: "load",
          message: `Winsock Registered I/O needs Windows; this process runs on ${process.platform}.`
        })
      )
    }
    const ws = yield* Effect.try({
      try: () => Winsock.native(),
      catch: (error) =>
        new RioError.RioUnavailable({
          code: Abi.WSAEOPNOTSUPP,
          operation: "LoadLibrary(ws2_32.dll)",
          message: `ws2_32.dll or kernel32.dll could not be loaded: ${error instanceof Error ? error.message : error}`,
          cause: error
        })
    })
    yield* Effect.acquireRelease(
      Effect.suspend(() => fromFailure(Winsock.startup(ws))),
      () => Effect.sync(() => ws.WSACleanup())
    )
    const socket = yield* Effect.acquireRelease(
      Effect.suspend(() => fromFailure(Winsock.openSocket(ws))),
      (socket) => Effect.sync(() => ws.closesocket(socket))
    )
    const functions = yield* Effect.suspend(() => fromFailure(Winsock.loadFunctionTable(ws, socket, options?.provider)))
    return makeDriver(
      ws,
      functions,
      socket,
      options?.provider ?? "WSAIoctl",
      Winsock.pageSize(ws),
      options?.completionQueueSize
    )
  })
