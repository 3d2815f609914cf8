/**
 * Sockets on Winsock Registered I/O: the core's `NetDriver` for the Windows driver.
 *
 * - One completion queue per layer (RIOCreateCompletionQueue with RIO_EVENT_COMPLETION),
 *   one request queue per connected or bound socket (RIOCreateRequestQueue). The driver
 *   does not know the core's queue depths, so request queues start small and grow with
 *   RIOResizeRequestQueue when an operation would exceed them; before any request queue is
 *   created or grown, the completion queue is grown (RIOResizeCompletionQueue) to hold every
 *   request that could be outstanding, so it never overflows whatever size it started at.
 * - TCP data is RIOSend / RIOReceive; UDP is RIOSendEx / RIOReceiveEx with the peer's
 *   SOCKADDR_INET in a scratch buffer the driver registers itself (one 32-byte slot per
 *   operation). Requests are issued with RIO_MSG_DEFER and committed once per socket and
 *   direction at `setImmediate` (RIO_MSG_COMMIT_ONLY): what starts in one event-loop turn
 *   reaches the provider together.
 * - Completions are dequeued in batches (RIODequeueCompletion) right after each commit, and
 *   when the completion event fires: RIONotify arms it once, a Koffi async
 *   WaitForSingleObject waits for it on a worker thread, and the callback — on the event
 *   loop — dequeues and re-arms. The event loop never blocks, and nothing waits while
 *   nothing is outstanding. RIO_CORRUPT_CQ is a bug: every outstanding operation then ends
 *   with a RioSystemError.
 * - RIO has no per-request cancel. A cancelled UDP receive is completed by a one-byte
 *   datagram the driver sends to the socket from a socket of its own (a "poke"): the
 *   receive that gets it ends with WSAECONNABORTED if it was cancelled, or is re-posted
 *   unchanged if it was not (requests complete in order, so the cancelled one is reached).
 *   The socket stays usable. A cancelled TCP operation ends the stream (closesocket ends
 *   its outstanding requests; later ones fail with WSAECONNABORTED): a half-done read or
 *   write leaves it unusable anyway. A cancelled UDP send is left to
 *   complete (it never waits for a peer). Connect and accept are not RIO: a non-blocking
 *   socket and `select` on a worker thread (Koffi async, 50 ms at a time so that a
 *   cancellation is seen).
 */
import type * as BufferId from "@effect-rio/core/BufferId"
import type {
  Done,
  NativeMemory,
  NetDriver,
  NetDriverError,
  NetSocket,
  Pending,
  Region,
  SocketAddress
} from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import * as LinuxSockaddr from "../linux/sockaddr.js"
import { OperationTable } from "../operations.js"
import * as Abi from "./abi.js"
import type { Allocator } from "./memory.js"
import { fromCode } from "./netErrors.js"
import * as Sockets from "./sockets.js"
import type * as Winsock from "./winsock.js"

const BATCH = 256
const RESULT_BYTES = 24
const INITIAL_DEPTH = 16
const DEFAULT_CQ_SIZE = 1024
const WAIT_MS = 500
const SELECT_MS = 50
const WSAEALREADY = 10037
const WSAEMSGSIZE = 10040

// Scratch for UDP addresses: one SOCKADDR_INET (28 bytes) per operation slot.
const SCRATCH_SLOT = 32
const SCRATCH_SLOTS = 2048

/** A socket of this driver, with its request queue and what cancellation needs. */
class WinSocket implements NetSocket {
  rq = 0n
  maxReceive = INITIAL_DEPTH
  maxSend = INITIAL_DEPTH
  receives = 0
  sends = 0
  deferredSends = false
  deferredReceives = false
  closed = false
  cancelledReceives = 0
  pokes = 0
  /** Closed by the cancellation of one of its stream operations (see `abortStream`). */
  aborted = false

  constructor(
    readonly handle: number,
    readonly native: bigint,
    readonly kind: "udp" | "tcp" | "listener",
    readonly local: SocketAddress,
    readonly remote: SocketAddress | undefined
  ) {}
}

interface Operation {
  readonly userData: number
  readonly slot: number
  readonly socket: WinSocket
  readonly send: boolean
  cancelled: boolean
  /** A poke for a receive that was not cancelled: re-posted, not completed. */
  readonly absorb: ((operation: Operation, status: number) => boolean) | undefined
  readonly complete: (status: number, bytes: number) => void
  readonly fail: (error: NetDriverError) => void
}

/** The network half of the Windows driver; `shutdownAll` ends it with the driver. */
export interface WindowsNet extends NetDriver {
  readonly shutdownAll: () => void
}

/** What the network needs from the driver that owns it. */
export interface Owner {
  readonly ws: Winsock.Native
  readonly rio: Winsock.RioFunctions
  readonly allocator: Allocator
  readonly nativeBufferId: (id: BufferId.BufferId) => bigint | undefined
  readonly completionQueueSize?: number
}

const aborted = (operation: string): NetDriverError =>
  new RioError.WSAECONNABORTED({ operation, message: `${operation}: the operation was cancelled.` })

const resetByCancel = (operation: string): NetDriverError =>
  new RioError.WSAECONNABORTED({
    operation,
    message: `${operation}: the stream was closed when one of its operations was cancelled.`
  })

const later = <A>(done: Done<A>, result: A | NetDriverError): Pending => {
  setImmediate(() => done(result))
  return { cancel: () => {} }
}

export const make = (owner: Owner): WindowsNet => {
  const { allocator, rio, ws } = owner
  const native = Sockets.load()
  // Handles are this driver's own numbers, never Winsock's: a closed SOCKET's value may be
  // given to the next socket while the core still holds the old one.
  const sockets = new Map<number, WinSocket>()
  let nextHandle = 1
  // RequestContext is the table's tag: a completion is never taken for a later operation.
  const operations = new OperationTable<Operation>()
  const scratch: Array<{ readonly memory: NativeMemory; readonly id: bigint; readonly view: DataView }> = []
  const results = new Uint8Array(RESULT_BYTES * BATCH)
  const resultView = new DataView(results.buffer)
  const addresses = new LinuxSockaddr.Cache()
  const dirty = new Set<WinSocket>()
  const pokers = new Map<number, { readonly socket: bigint; readonly name: Uint8Array }>()
  let cq = 0n
  let event: unknown = null
  let cqSize = owner.completionQueueSize ?? DEFAULT_CQ_SIZE
  let reserved = 0
  let armed = false
  let waiting = false
  let flushScheduled = false
  let closed = false
  let broken: NetDriverError | undefined

  const lastError = (operation: string): NetDriverError => fromCode(ws.WSAGetLastError(), operation)

  // --- the completion queue ------------------------------------------------------------

  const ensureQueue = (): NetDriverError | undefined => {
    if (broken !== undefined) return broken
    if (cq !== 0n) return undefined
    event = native.CreateEventW(null, 0, 0, null)
    if (event === null) return fromCode(ws.GetLastError(), "CreateEventW")
    const queue = rio.RIOCreateCompletionQueue(cqSize, {
      Type: Abi.RIO_EVENT_COMPLETION,
      u: { Event: { EventHandle: event, NotifyReset: 0 } }
    })
    if (queue === Abi.RIO_INVALID_CQ) {
      const error = lastError("RIOCreateCompletionQueue")
      native.CloseHandle(event)
      event = null
      return error
    }
    cq = queue
    return undefined
  }

  /** Room in the completion queue for `extra` more outstanding requests. */
  const reserve = (extra: number): NetDriverError | undefined => {
    const needed = reserved + extra
    if (needed > cqSize) {
      const size = Math.min(Math.max(needed, cqSize * 2), Abi.RIO_MAX_CQ_SIZE)
      if (size < needed || rio.RIOResizeCompletionQueue(cq, size) === 0) return lastError("RIOResizeCompletionQueue")
      cqSize = size
    }
    reserved = needed
    return undefined
  }

  const createRequestQueue = (socket: WinSocket): NetDriverError | undefined => {
    // Made with the first socket that needs one (a listener has none; its streams do).
    const missing = ensureQueue()
    if (missing !== undefined) return missing
    const depth = socket.maxReceive + socket.maxSend
    const error = reserve(depth)
    if (error !== undefined) return error
    const create = () => rio.RIOCreateRequestQueue(socket.native, socket.maxReceive, 1, socket.maxSend, 1, cq, cq, null)
    let rq = create()
    if (rq === Abi.RIO_INVALID_RQ && ws.WSAGetLastError() === Abi.WSAENOBUFS) {
      // The provider may still count queues of sockets closed a moment ago: grow and retry once.
      const size = Math.min(cqSize * 2, Abi.RIO_MAX_CQ_SIZE)
      if (rio.RIOResizeCompletionQueue(cq, size) !== 0) cqSize = size
      rq = create()
    }
    if (rq === Abi.RIO_INVALID_RQ) {
      const failure = lastError("RIOCreateRequestQueue")
      reserved -= depth
      return failure
    }
    socket.rq = rq
    return undefined
  }

  /** Doubles the request queue's depth in one direction. */
  const grow = (socket: WinSocket, send: boolean): NetDriverError | undefined => {
    const extra = send ? socket.maxSend : socket.maxReceive
    const error = reserve(extra)
    if (error !== undefined) return error
    const receive = send ? socket.maxReceive : socket.maxReceive * 2
    const sendDepth = send ? socket.maxSend * 2 : socket.maxSend
    if (rio.RIOResizeRequestQueue(socket.rq, receive, sendDepth) === 0) {
      const failure = lastError("RIOResizeRequestQueue")
      reserved -= extra
      return failure
    }
    socket.maxReceive = receive
    socket.maxSend = sendDepth
    return undefined
  }

  // --- operations ------------------------------------------------------------------------

  const releaseSlot = (operation: Operation): void => {
    operations.release(operation.userData)
    if (operation.send) operation.socket.sends--
    else operation.socket.receives--
  }

  /** The scratch SOCKADDR_INET of a slot, registered on first use. */
  const scratchOf = (
    slot: number
  ): { readonly buf: object; readonly view: DataView; readonly at: number } | NetDriverError => {
    const chunk = Math.floor(slot / SCRATCH_SLOTS)
    while (scratch.length <= chunk) {
      const memory = allocator.allocate(SCRATCH_SLOT * SCRATCH_SLOTS)
      if (memory instanceof Error) return memory
      const id = rio.RIORegisterBuffer(memory.address, SCRATCH_SLOT * SCRATCH_SLOTS)
      if (id === Abi.RIO_INVALID_BUFFERID) {
        const error = lastError("RIORegisterBuffer (address scratch)")
        allocator.free(memory)
        return error
      }
      const bytes = memory.bytes
      scratch.push({ memory, id, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) })
    }
    const { id, view } = scratch[chunk]!
    const at = (slot % SCRATCH_SLOTS) * SCRATCH_SLOT
    return { buf: { BufferId: id, Offset: at, Length: Sockets.SOCKADDR_BYTES }, view, at }
  }

  const dataBuf = (region: Region): object => ({
    BufferId: owner.nativeBufferId(region.bufferId) ?? 0n,
    Offset: region.offset,
    Length: region.length
  })

  const failAll = (error: NetDriverError): void => {
    for (const operation of operations.operations()) {
      releaseSlot(operation)
      operation.fail(error)
    }
  }

  const dispatch = (status: number, bytes: number, userData: number): void => {
    const operation = operations.get(userData)
    if (operation === undefined) return
    if (operation.absorb !== undefined && operation.absorb(operation, status)) return
    releaseSlot(operation)
    operation.complete(status, bytes)
  }

  const drain = (): void => {
    if (cq === 0n || broken !== undefined) return
    for (;;) {
      const n = rio.RIODequeueCompletion(cq, results, BATCH)
      if (n === Abi.RIO_CORRUPT_CQ) {
        broken = new RioError.RioSystemError({
          code: Abi.RIO_CORRUPT_CQ,
          operation: "RIODequeueCompletion",
          message: "RIODequeueCompletion returned RIO_CORRUPT_CQ: the completion queue is corrupt or was used " +
            "concurrently. This is a bug; the layer's sockets cannot continue.",
          cause: { lastError: ws.WSAGetLastError() }
        })
        return failAll(broken)
      }
      for (let i = 0; i < n; i++) {
        const at = i * RESULT_BYTES
        dispatch(resultView.getInt32(at, true), resultView.getUint32(at + 4, true), resultView.getUint32(at + 16, true))
      }
      if (n < BATCH) return
    }
  }

  /** Waits for the completion event on a worker thread while anything is outstanding. */
  const settleWait = (): void => {
    if (closed || waiting || operations.count === 0 || broken !== undefined) return
    if (!armed) {
      const code = rio.RIONotify(cq)
      if (code !== 0 && code !== WSAEALREADY) {
        broken = fromCode(code, "RIONotify")
        return failAll(broken)
      }
      armed = true
    }
    waiting = true
    native.waitAsync(event, WAIT_MS, (_error, result) => {
      waiting = false
      if (closed) {
        native.CloseHandle(event)
        return
      }
      if (result === Sockets.WAIT_OBJECT_0) armed = false
      drain()
      settleWait()
    })
  }

  /** Hands the socket's deferred requests to the provider (RIO_MSG_COMMIT_ONLY). */
  const commit = (socket: WinSocket): void => {
    if (!socket.closed && !socket.aborted) {
      if (socket.deferredSends) rio.RIOSend(socket.rq, null, 0, Abi.RIO_MSG_COMMIT_ONLY, null)
      if (socket.deferredReceives) rio.RIOReceive(socket.rq, null, 0, Abi.RIO_MSG_COMMIT_ONLY, null)
    }
    socket.deferredSends = false
    socket.deferredReceives = false
  }

  const flush = (): void => {
    flushScheduled = false
    if (closed) return
    for (const socket of dirty) commit(socket)
    dirty.clear()
    drain()
    settleWait()
  }

  const deferred = (socket: WinSocket, send: boolean): void => {
    if (send) socket.deferredSends = true
    else socket.deferredReceives = true
    dirty.add(socket)
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  }

  /**
   * Starts one request: room in the request queue, a slot, then `issue` (a RIO call with
   * RIO_MSG_DEFER; false if it failed). `done` runs from the completion, never in here.
   */
  const start = <A>(
    netSocket: NetSocket,
    send: boolean,
    done: Done<A>,
    issue: (slot: number, userData: number) => boolean | NetDriverError,
    complete: (status: number, bytes: number, operation: Operation) => A | NetDriverError,
    options: {
      readonly cancel: (operation: Operation) => void
      readonly absorb?: (operation: Operation, status: number) => boolean
    }
  ): Pending => {
    const socket = sockets.get(netSocket.handle)
    if (socket === undefined || socket.rq === 0n) {
      return later(done, new RioError.WSAEINVAL({ operation: "RIO", message: "The socket is not open." }))
    }
    if (broken !== undefined) return later(done, broken)
    if (socket.aborted) return later(done, resetByCancel(send ? "RIOSend" : "RIOReceive"))
    if (send ? socket.sends >= socket.maxSend : socket.receives >= socket.maxReceive) {
      const error = grow(socket, send)
      if (error !== undefined) return later(done, error)
    }
    const slot = operations.take()
    const userData = operations.userData(slot)
    const issued = issue(slot, userData)
    if (issued !== true) {
      operations.release(userData)
      return later(done, issued === false ? lastError(send ? "RIOSend" : "RIOReceive") : issued)
    }
    const operation: Operation = {
      userData,
      slot,
      socket,
      send,
      cancelled: false,
      absorb: options.absorb,
      complete: (status, bytes) => done(complete(status, bytes, operation)),
      fail: (error) => done(error)
    }
    operations.set(slot, operation)
    if (send) socket.sends++
    else socket.receives++
    deferred(socket, send)
    return {
      cancel: () => {
        if (operation.cancelled || operations.get(userData) !== operation) return
        operation.cancelled = true
        options.cancel(operation)
      }
    }
  }

  // --- cancellation ----------------------------------------------------------------------

  /** The driver's own plain UDP socket of a family, that pokes cancelled receives. */
  const poker = (family: number): { readonly socket: bigint; readonly name: Uint8Array } | undefined => {
    let entry = pokers.get(family)
    if (entry !== undefined) return entry
    const socket = ws.WSASocketW(family, Abi.SOCK_DGRAM, Abi.IPPROTO_UDP, null, 0, 0)
    if (socket === Abi.INVALID_SOCKET) return undefined
    const name = new Uint8Array(Sockets.SOCKADDR_BYTES)
    const view = new DataView(name.buffer)
    const length = Sockets.write(view, 0, { host: family === Abi.AF_INET ? "127.0.0.1" : "::1", port: 0 })
    const size = new Int32Array([Sockets.SOCKADDR_BYTES])
    if (native.bind(socket, name, length) !== 0 || native.getsockname(socket, name, size) !== 0) {
      ws.closesocket(socket)
      return undefined
    }
    entry = { socket, name }
    pokers.set(family, entry)
    return entry
  }

  const isPoke = (view: DataView, at: number): boolean => {
    const family = view.getUint16(at, true)
    const entry = pokers.get(family)
    if (entry === undefined) return false
    const mine = new DataView(entry.name.buffer)
    if (view.getUint16(at + 2) !== mine.getUint16(2)) return false
    if (family === Abi.AF_INET) return view.getUint32(at + 4) === mine.getUint32(4)
    for (let i = 8; i < 24; i += 4) if (view.getUint32(at + i) !== mine.getUint32(i)) return false
    return true
  }

  /** One poke in flight per cancelled receive not yet completed. */
  const topUpPokes = (socket: WinSocket): void => {
    while (socket.pokes < socket.cancelledReceives) {
      const family = Sockets.family(socket.local.host)
      const entry = poker(family)
      if (entry === undefined) return
      const host = socket.local.host === "0.0.0.0"
        ? "127.0.0.1"
        : socket.local.host === "::"
        ? "::1"
        : socket.local.host
      const target = new Uint8Array(Sockets.SOCKADDR_BYTES)
      const length = Sockets.write(new DataView(target.buffer), 0, { host, port: socket.local.port })
      if (native.sendto(entry.socket, new Uint8Array(1), 1, 0, target, length) !== 1) return
      socket.pokes++
    }
  }

  /**
   * A cancelled stream operation ends the stream: what it has outstanding is committed, then
   * closesocket ends every request of the queue with WSA_OPERATION_ABORTED, which is
   * documented — unlike shutdown, which does not complete a pending receive. A half-done read
   * or write leaves the stream unusable anyway. The close stays graceful (no SO_LINGER 0):
   * the core cancels a socket's pending receive before it closes it, and what was sent
   * before must still reach the peer. The socket keeps its place in the table so that later
   * operations fail at once, and nothing touches the handle again (Windows may give its
   * number to the next socket).
   */
  const abortStream = (socket: WinSocket): void => {
    if (socket.aborted || socket.closed) return
    commit(socket)
    socket.aborted = true
    ws.closesocket(socket.native)
  }

  // --- sockets ---------------------------------------------------------------------------

  const localAddress = (socket: bigint): SocketAddress => {
    const name = new Uint8Array(Sockets.SOCKADDR_BYTES)
    native.getsockname(socket, name, new Int32Array([Sockets.SOCKADDR_BYTES]))
    return Sockets.read(new DataView(name.buffer), 0)
  }

  const nonBlocking = (socket: bigint): number => native.ioctlsocket(socket, Sockets.FIONBIO, new Uint32Array([1]))

  /** A new RIO socket, bound to `bind` when given. */
  const open = (
    type: number,
    protocol: number,
    address: SocketAddress,
    bind: boolean,
    operation: string
  ): bigint | NetDriverError => {
    const socket = ws.WSASocketW(
      Sockets.family(address.host),
      type,
      protocol,
      null,
      0,
      Abi.WSA_FLAG_OVERLAPPED | Abi.WSA_FLAG_REGISTERED_IO
    )
    if (socket === Abi.INVALID_SOCKET) return lastError(`${operation} (WSASocketW)`)
    if (!bind) return socket
    const name = new Uint8Array(Sockets.SOCKADDR_BYTES)
    const length = Sockets.write(new DataView(name.buffer), 0, address)
    if (native.bind(socket, name, length) !== 0) {
      const error = lastError(`${operation} (bind ${address.host}:${address.port})`)
      ws.closesocket(socket)
      return error
    }
    return socket
  }

  /** Gives a connected or bound socket its request queue and a place in the table. */
  const adopt = (
    socket: bigint,
    kind: "udp" | "tcp",
    remote: SocketAddress | undefined
  ): WinSocket | NetDriverError => {
    if (kind === "tcp") native.setsockopt(socket, Sockets.IPPROTO_TCP, Sockets.TCP_NODELAY, new Int32Array([1]), 4)
    const state = new WinSocket(nextHandle++, socket, kind, localAddress(socket), remote)
    const error = createRequestQueue(state)
    if (error !== undefined) return error
    sockets.set(state.handle, state)
    return state
  }

  const socketError = (socket: bigint): number => {
    const value = new Int32Array(1)
    native.getsockopt(socket, Sockets.SOL_SOCKET, Sockets.SO_ERROR, value, new Int32Array([4]))
    return value[0]!
  }

  const net: WindowsNet = {
    udp: (bind) => {
      const socket = open(Abi.SOCK_DGRAM, Abi.IPPROTO_UDP, bind, true, "RegisteredSocket.udp")
      if (typeof socket !== "bigint") return socket
      const state = adopt(socket, "udp", undefined)
      if (state instanceof Error) ws.closesocket(socket)
      return state
    },

    listen: (bind, backlog) => {
      // No SO_REUSEADDR: on Windows it would let a second socket take a port in use.
      const socket = open(Sockets.SOCK_STREAM, Sockets.IPPROTO_TCP, bind, true, "RegisteredSocket.listen")
      if (typeof socket !== "bigint") return socket
      if (native.listen(socket, backlog) !== 0 || nonBlocking(socket) !== 0) {
        const error = lastError("RegisteredSocket.listen (listen)")
        ws.closesocket(socket)
        return error
      }
      const state = new WinSocket(nextHandle++, socket, "listener", localAddress(socket), undefined)
      sockets.set(state.handle, state)
      return state
    },

    connect: (peer, done) => {
      const operation = `RegisteredSocket.connect (${peer.host}:${peer.port})`
      const socket = open(Sockets.SOCK_STREAM, Sockets.IPPROTO_TCP, peer, false, operation)
      if (typeof socket !== "bigint") return later(done, socket)
      const name = new Uint8Array(Sockets.SOCKADDR_BYTES)
      const length = Sockets.write(new DataView(name.buffer), 0, peer)
      const code = nonBlocking(socket) === 0 && native.connect(socket, name, length) === 0 ? 0 : ws.WSAGetLastError()
      if (code !== 0 && code !== Sockets.WSAEWOULDBLOCK) {
        ws.closesocket(socket)
        return later(done, fromCode(code, operation))
      }
      let cancelled = false
      const finish = (result: number): void => {
        if (cancelled || result !== 0) {
          ws.closesocket(socket)
          return done(cancelled ? aborted(operation) : fromCode(result, operation))
        }
        const state = adopt(socket, "tcp", peer)
        if (state instanceof Error) ws.closesocket(socket)
        done(state)
      }
      const poll = (): void => {
        const writable = Sockets.fdSet(socket)
        const failed = Sockets.fdSet(socket)
        native.selectAsync(0, null, writable, failed, Sockets.timeval(SELECT_MS), (_error, n) => {
          if (cancelled) return finish(0)
          if (n === 0) return poll()
          if (n < 0 || Sockets.isSet(failed)) return finish(socketError(socket) || 10061)
          finish(Sockets.isSet(writable) ? socketError(socket) : 0)
        })
      }
      if (code === 0) setImmediate(() => finish(0))
      else poll()
      return { cancel: () => (cancelled = true) }
    },

    accept: (listener, done) => {
      const state = sockets.get(listener.handle)
      if (state === undefined) {
        return later(done, new RioError.WSAEINVAL({ operation: "accept", message: "The listener is not open." }))
      }
      let cancelled = false
      const name = new Uint8Array(Sockets.SOCKADDR_BYTES)
      const size = new Int32Array(1)
      const attempt = (): void => {
        if (cancelled) return done(aborted("RegisteredSocket.accept"))
        size[0] = Sockets.SOCKADDR_BYTES
        const socket = native.accept(state.native, name, size)
        if (socket !== Abi.INVALID_SOCKET) {
          const accepted = adopt(socket, "tcp", Sockets.read(new DataView(name.buffer), 0))
          if (accepted instanceof Error) ws.closesocket(socket)
          return done(accepted)
        }
        const code = ws.WSAGetLastError()
        if (code !== Sockets.WSAEWOULDBLOCK) return done(fromCode(code, "RegisteredSocket.accept"))
        native.selectAsync(0, Sockets.fdSet(state.native), null, null, Sockets.timeval(SELECT_MS), attempt)
      }
      setImmediate(attempt)
      return { cancel: () => (cancelled = true) }
    },

    send: (socket, region, done) =>
      start(
        socket,
        true,
        done,
        (_, userData) =>
          rio.RIOSend(
            sockets.get(socket.handle)!.rq,
            dataBuf(region),
            1,
            Abi.RIO_MSG_DEFER,
            BigInt(userData)
          ) !== 0,
        (status, bytes, operation) =>
          status === 0 ? bytes : fromCode(operation.cancelled ? Sockets.WSA_OPERATION_ABORTED : status, "RIOSend"),
        { cancel: (operation) => abortStream(operation.socket) }
      ),

    receive: (socket, region, done) =>
      start(
        socket,
        false,
        done,
        (_, userData) =>
          rio.RIOReceive(
            sockets.get(socket.handle)!.rq,
            dataBuf(region),
            1,
            Abi.RIO_MSG_DEFER,
            BigInt(userData)
          ) !== 0,
        (status, bytes, operation) => {
          // The abort of a cancelled receive is the cancellation; data that arrived first is
          // still the result.
          if (operation.cancelled && (status !== 0 || bytes === 0)) return aborted("RIOReceive")
          return status === 0 ? bytes : fromCode(status, "RIOReceive")
        },
        { cancel: (operation) => abortStream(operation.socket) }
      ),

    sendTo: (socket, region, peer, done) =>
      start(
        socket,
        true,
        done,
        (slot, userData) => {
          const address = scratchOf(slot)
          if (address instanceof Error) return address
          Sockets.write(address.view, address.at, peer)
          return rio.RIOSendEx(
            sockets.get(socket.handle)!.rq,
            dataBuf(region),
            1,
            null,
            address.buf,
            null,
            null,
            Abi.RIO_MSG_DEFER,
            BigInt(userData)
          ) !== 0
        },
        (status, bytes) => status === 0 ? bytes : fromCode(status, "RIOSendEx"),
        // A datagram send never waits for a peer: let it complete.
        { cancel: () => {} }
      ),

    receiveFrom: (socket, region, done) => {
      const post = (slot: number, userData: number): boolean | NetDriverError => {
        const address = scratchOf(slot)
        if (address instanceof Error) return address
        return rio.RIOReceiveEx(
          sockets.get(socket.handle)!.rq,
          dataBuf(region),
          1,
          null,
          address.buf,
          null,
          null,
          Abi.RIO_MSG_DEFER,
          BigInt(userData)
        ) !== 0
      }
      const addressOf = (slot: number) => scratchOf(slot) as { readonly view: DataView; readonly at: number }
      return start(
        socket,
        false,
        done,
        post,
        (status, bytes, operation) => {
          const { at, view } = addressOf(operation.slot)
          if (operation.cancelled) {
            operation.socket.cancelledReceives--
            if (status === 0 && isPoke(view, at)) {
              operation.socket.pokes--
              return aborted("RIOReceiveEx")
            }
            topUpPokes(operation.socket)
          }
          if (status === WSAEMSGSIZE) return truncated(region.length)
          if (status !== 0) return fromCode(status, "RIOReceiveEx")
          return { length: bytes, address: addresses.decode(view, at) }
        },
        {
          cancel: (operation) => {
            operation.socket.cancelledReceives++
            topUpPokes(operation.socket)
          },
          absorb: (operation, status) => {
            const { at, view } = addressOf(operation.slot)
            if (operation.cancelled || status !== 0 || !isPoke(view, at)) return false
            // A poke meant for a cancelled receive further back: post this one again.
            operation.socket.pokes--
            if (post(operation.slot, operation.userData) !== true) return false
            deferred(operation.socket, false)
            topUpPokes(operation.socket)
            return true
          }
        }
      )
    },

    shutdown: (socket, how) => {
      const state = sockets.get(socket.handle)
      if (state === undefined) return undefined
      if (state.aborted) return resetByCancel("shutdown")
      return native.shutdown(state.native, Sockets.SD[how]) === 0 ? undefined : lastError("shutdown")
    },

    close: (socket) => {
      const state = sockets.get(socket.handle)
      if (state === undefined || state.closed) return
      state.closed = true
      sockets.delete(state.handle)
      dirty.delete(state)
      if (!state.aborted) ws.closesocket(state.native)
      if (state.rq !== 0n) reserved -= state.maxReceive + state.maxSend
    },

    shutdownAll: () => {
      if (closed) return
      closed = true
      for (const state of sockets.values()) if (!state.aborted) ws.closesocket(state.native)
      sockets.clear()
      for (const entry of pokers.values()) ws.closesocket(entry.socket)
      pokers.clear()
      if (cq !== 0n) rio.RIOCloseCompletionQueue(cq)
      cq = 0n
      for (const chunk of scratch) {
        rio.RIODeregisterBuffer(chunk.id)
        allocator.free(chunk.memory)
      }
      scratch.length = 0
      // A worker still waiting on the event is released now; its callback closes the handle.
      if (event !== null) {
        if (waiting) native.SetEvent(event)
        else native.CloseHandle(event)
      }
    }
  }
  return net
}

const truncated = (room: number): NetDriverError =>
  new RioError.WSAEMSGSIZE({
    operation: "RIOReceiveEx",
    message: `A datagram did not fit the ${room}-byte slice: its first ${room} bytes landed in the slice and ` +
      "the rest is lost. Receive into larger slices.",
    cause: { lastError: WSAEMSGSIZE }
  })
