/**
 * The Windows backend: Winsock Registered I/O through Koffi.
 *
 * `make` acquires, in its scope: WSAStartup(2.2) … WSACleanup; a UDP socket opened with
 * WSA_FLAG_REGISTERED_IO … closesocket; the RIO function table (WSAIoctl, or a provider DLL
 * for ABI tests); then the driver's own resources — sockets, completion queue, peer-address
 * buffers — which the same scope tears down. Any failure in set-up is a `RioUnavailable`
 * carrying the Winsock code. The driver it returns implements the core's synchronous
 * `Driver` contract:
 *
 * - `register` calls RIORegisterBuffer and, on RIO_INVALID_BUFFERID ((ULONG_PTR)0xFFFFFFFF),
 *   reads WSAGetLastError immediately (Koffi keeps the thread's last error intact) and maps
 *   WSAEFAULT / WSAEINVAL / WSAENOBUFS to their typed errors, anything else to
 *   RioSystemError with the code. It never throws.
 * - A RIO_BUFFERID is a pointer-sized opaque value (a pointer on real Windows), while the
 *   core's BufferId is a small JS number: the driver keeps a table from small integers
 *   (lowest free first, like io_uring buffer-table slots and the test double) to the native ids.
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
import { IdAllocator } from "@effect-rio/core/IdAllocator"
import type * as RioError from "@effect-rio/core/RioError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import type { WindowsOptions } from "../../KoffiRio.js"
import * as Abi from "./abi.js"
import { Pokes } from "./cancel.js"
import { Completions } from "./completions.js"
import {
  deregisterFailed,
  notLoaded,
  notRegistered,
  notWindows,
  outOfBufferIds,
  registerFailed,
  unavailable
} from "./errors.js"
import * as FunctionTable from "./functionTable.js"
import * as Memory from "./memory.js"
import * as Net from "./net.js"
import { PeerAddresses } from "./peerAddresses.js"
import { RequestQueues } from "./requestQueues.js"
import { SocketTable } from "./sockets.js"
import * as Winsock from "./winsock.js"

/** Options of {@link make}: the public ones, and the ABI-testing seam. */
export interface Options extends WindowsOptions {
  /**
   * Path of a DLL exporting `RioReferenceGetFunctionTable` to take the RIO function table
   * from instead of WSAIoctl (see `functionTable.ts`). A seam for ABI testing against the
   * reference provider only: production code leaves it unset.
   *
   * @internal
   */
  readonly provider?: string
}

/** RIO sets no limit on registrations; the small ids only have to stay JS integers. */
const BUFFER_IDS = 0x7FFFFFFF

/** The small BufferIds and the native RIO_BUFFERIDs behind them. */
class BufferIds {
  private readonly ids = new IdAllocator(BUFFER_IDS)
  private readonly native = new Map<number, bigint>()

  constructor(private readonly ws: Winsock.Native, private readonly rio: FunctionTable.RioFunctions) {}

  readonly nativeId = (id: BufferId.BufferId): bigint | undefined => this.native.get(id)

  register(address: bigint, length: number): BufferId.BufferId | RioError.RegisterError {
    const id = this.ids.take()
    if (id < 0) return outOfBufferIds(BUFFER_IDS)
    const bufferId = this.rio.RIORegisterBuffer(address, length)
    if (bufferId === Abi.RIO_INVALID_BUFFERID) {
      const error = registerFailed(this.ws.WSAGetLastError(), address, length)
      this.ids.release(id)
      return error
    }
    this.native.set(id, bufferId)
    return BufferId.unsafeMake(id)
  }

  deregister(id: BufferId.BufferId): RioError.WSAEINVAL | RioError.RioSystemError | undefined {
    const bufferId = this.native.get(id)
    if (bufferId === undefined) return notRegistered(id)
    this.ws.WSASetLastError(0)
    this.rio.RIODeregisterBuffer(bufferId)
    const code = this.ws.WSAGetLastError()
    this.native.delete(id)
    this.ids.release(id)
    return code === 0 ? undefined : deregisterFailed(code, id, bufferId)
  }

  /** The core deregisters everything first; this only guards against a caller that did not. */
  deregisterAll(): void {
    for (const id of Array.from(this.native.keys())) this.deregister(BufferId.unsafeMake(id))
  }
}

const fromFailure = <A>(result: A | Winsock.Failure): Effect.Effect<A, RioError.RioUnavailable> =>
  Winsock.isFailure(result) ? Effect.fail(unavailable(result)) : Effect.succeed(result)

/** The driver over a function table, and what its scope must tear down. */
const open = (
  ws: Winsock.Native,
  rio: FunctionTable.RioFunctions,
  completionQueueSize: number | undefined
): { readonly driver: Driver; readonly close: () => void } => {
  const pageSize = Winsock.pageSize(ws)
  const allocator = Memory.make(ws, pageSize)
  const buffers = new BufferIds(ws, rio)
  const sockets = new SocketTable()
  const completions = new Completions(ws, rio, completionQueueSize)
  const peerAddresses = new PeerAddresses(ws, rio, allocator)
  const pokes = new Pokes(ws)
  const net = Net.make({
    ws,
    rio,
    sockets,
    completions,
    requestQueues: new RequestQueues(ws, rio, completions),
    peerAddresses,
    pokes,
    rioBufferId: buffers.nativeId
  })
  const driver: Driver = {
    backend: "winsock",
    pageSize,
    maxBufferLength: 0xFFFFFFFF,
    maxBufferLengthReason: "RIORegisterBuffer takes a DWORD length",
    // Koffi resolves a Uint8Array to its backing store plus byteOffset.
    addressOf: (bytes) => koffi.address(bytes),
    register: (address, length) => buffers.register(address, length),
    deregister: (id) => buffers.deregister(id),
    allocate: allocator.allocate,
    free: allocator.free,
    net
  }
  const close = () => {
    sockets.closeAll(ws)
    pokes.close()
    completions.close()
    peerAddresses.close()
    buffers.deregisterAll()
  }
  return { driver, close }
}

/**
 * Builds the Winsock RIO driver in the current scope, which also tears it down. Fails with
 * `RioUnavailable` off Windows, when Winsock cannot start, and when the system has no RIO
 * (WSAEOPNOTSUPP 10045, which is what Wine answers).
 *
 * @internal
 */
export const make = (options?: Options): Effect.Effect<Driver, RioError.RioUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    if (process.platform !== "win32") return yield* Effect.fail(notWindows(process.platform))
    const ws = yield* Effect.try({ try: () => Winsock.native(), catch: notLoaded })
    yield* Effect.acquireRelease(
      Effect.suspend(() => fromFailure(Winsock.startup(ws))),
      () => Effect.sync(() => ws.WSACleanup())
    )
    const socket = yield* Effect.acquireRelease(
      Effect.suspend(() => fromFailure(Winsock.openSocket(ws))),
      (socket) => Effect.sync(() => ws.closesocket(socket))
    )
    const rio = yield* Effect.suspend(() => fromFailure(FunctionTable.load(ws, socket, options?.provider)))
    const { driver } = yield* Effect.acquireRelease(
      Effect.sync(() => open(ws, rio, options?.completionQueueSize)),
      ({ close }) => Effect.sync(close)
    )
    return driver
  })
