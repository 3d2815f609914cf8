/**
 * The completion queue the layer's sockets share, and the operations it will complete:
 *
 * - One RIO completion queue (RIOCreateCompletionQueue with RIO_EVENT_COMPLETION), made with
 *   the first request queue. Before any request queue is created or grown, room is reserved
 *   for every request it could have outstanding, and the completion queue grows
 *   (RIOResizeCompletionQueue) to hold them, so it never overflows whatever size it started at.
 * - The operation table (`../operations.ts`): a request's RequestContext is its tag, so a
 *   completion is never taken for a later operation.
 * - Deferred commit: requests are issued with RIO_MSG_DEFER and committed once per socket and
 *   direction at `setImmediate` (RIO_MSG_COMMIT_ONLY), so what starts in one event-loop turn
 *   reaches the provider together.
 * - Completions are dequeued in batches (RIODequeueCompletion) right after each commit, and
 *   when the completion event fires: RIONotify arms it once, a Koffi async
 *   WaitForSingleObject waits for it on a worker thread, and the callback — on the event loop
 *   — dequeues and re-arms. The event loop never blocks, and nothing waits while nothing is
 *   outstanding. RIO_CORRUPT_CQ is a bug: every outstanding operation then ends with a
 *   RioSystemError, as does every later one.
 *
 * @internal
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import { OperationTable } from "../operations.js"
import * as Abi from "./abi.js"
import { corruptQueue, fromCode, lastError } from "./errors.js"
import type { RioFunctions } from "./functionTable.js"
import type { WinSocket } from "./sockets.js"
import type { Native } from "./winsock.js"

/** RIORESULTs dequeued per call. */
const BATCH = 256
const RESULT_BYTES = 24
const DEFAULT_SIZE = 1024
/** How long one wait on the worker thread lasts before it is renewed. */
const WAIT_MS = 500
const WAIT_OBJECT_0 = 0
const WSAEALREADY = 10037

/** A request in a request queue, waiting for its completion. */
export interface Operation {
  readonly userData: number
  readonly entry: number
  readonly socket: WinSocket
  readonly send: boolean
  cancelled: boolean
  /** Takes a completion that is not the operation's own (a poke, see `cancel.ts`): true if it did. */
  readonly absorb: ((operation: Operation, status: number) => boolean) | undefined
  readonly complete: (status: number, bytes: number) => void
  readonly fail: (error: NetDriverError) => void
}

/** The layer's completion queue and the operations outstanding in it. */
export class Completions {
  readonly operations = new OperationTable<Operation>()
  private failure: NetDriverError | undefined
  private cq = 0n
  private event: unknown = null
  private size: number
  /** Entries promised to request queues: the most that can be outstanding. */
  private reserved = 0
  private armed = false
  private waiting = false
  private flushScheduled = false
  private closed = false
  /** Sockets with requests issued with RIO_MSG_DEFER and not yet committed. */
  private readonly dirty = new Set<WinSocket>()
  private readonly results = new Uint8Array(RESULT_BYTES * BATCH)
  private readonly resultView = new DataView(this.results.buffer)

  constructor(
    private readonly ws: Native,
    private readonly rio: RioFunctions,
    size: number | undefined
  ) {
    this.size = size ?? DEFAULT_SIZE
  }

  /** Why no operation can complete any more (a corrupt queue, a failed RIONotify), once that happened. */
  get broken(): NetDriverError | undefined {
    return this.failure
  }

  /** The RIO_CQ; 0n until the first request queue needs it. */
  get queue(): bigint {
    return this.cq
  }

  /** Creates the completion queue and its event, if not done yet. */
  open(): NetDriverError | undefined {
    if (this.failure !== undefined) return this.failure
    if (this.cq !== 0n) return undefined
    const { rio, ws } = this
    const event = ws.CreateEventW(null, 0, 0, null)
    if (event === null) return fromCode(ws.GetLastError(), "CreateEventW")
    const queue = rio.RIOCreateCompletionQueue(this.size, {
      Type: Abi.RIO_EVENT_COMPLETION,
      u: { Event: { EventHandle: event, NotifyReset: 0 } }
    })
    if (queue === Abi.RIO_INVALID_CQ) {
      const error = lastError(ws, "RIOCreateCompletionQueue")
      ws.CloseHandle(event)
      return error
    }
    this.event = event
    this.cq = queue
    return undefined
  }

  /** Room for `extra` more outstanding requests, growing the queue if needed. */
  reserve(extra: number): NetDriverError | undefined {
    const needed = this.reserved + extra
    if (needed > this.size) {
      const size = Math.min(Math.max(needed, this.size * 2), Abi.RIO_MAX_CQ_SIZE)
      if (size < needed || this.rio.RIOResizeCompletionQueue(this.cq, size) === 0) {
        return lastError(this.ws, "RIOResizeCompletionQueue")
      }
      this.size = size
    }
    this.reserved = needed
    return undefined
  }

  /** Gives back room that a request queue no longer needs. */
  unreserve(count: number): void {
    this.reserved -= count
  }

  /**
   * Doubles the queue beyond what is reserved, for a provider that may still count the
   * request queues of sockets closed a moment ago.
   */
  grow(): void {
    const size = Math.min(this.size * 2, Abi.RIO_MAX_CQ_SIZE)
    if (this.rio.RIOResizeCompletionQueue(this.cq, size) !== 0) this.size = size
  }

  /** Records a request issued with RIO_MSG_DEFER; all are committed at the end of the turn. */
  defer(socket: WinSocket, send: boolean): void {
    if (send) socket.deferredSends = true
    else socket.deferredReceives = true
    this.dirty.add(socket)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
  }

  /** Hands the socket's deferred requests to the provider (RIO_MSG_COMMIT_ONLY). */
  commit(socket: WinSocket): void {
    if (!socket.closed && !socket.aborted) {
      if (socket.deferredSends) this.rio.RIOSend(socket.rq, null, 0, Abi.RIO_MSG_COMMIT_ONLY, null)
      if (socket.deferredReceives) this.rio.RIOReceive(socket.rq, null, 0, Abi.RIO_MSG_COMMIT_ONLY, null)
    }
    socket.deferredSends = false
    socket.deferredReceives = false
  }

  /** A closed socket has nothing left to commit. */
  forget(socket: WinSocket): void {
    this.dirty.delete(socket)
  }

  /** Frees the operation's table entry and its place in its request queue. */
  release(operation: Operation): void {
    this.operations.release(operation.userData)
    if (operation.send) operation.socket.sends--
    else operation.socket.receives--
  }

  /** Closes the completion queue; a worker still waiting on the event is let go. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.cq !== 0n) this.rio.RIOCloseCompletionQueue(this.cq)
    this.cq = 0n
    // The waiting worker's callback closes the handle.
    if (this.event !== null) {
      if (this.waiting) this.ws.SetEvent(this.event)
      else this.ws.CloseHandle(this.event)
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    if (this.closed) return
    for (const socket of this.dirty) this.commit(socket)
    this.dirty.clear()
    this.drain()
    this.wait()
  }

  private fail(error: NetDriverError): void {
    this.failure = error
    for (const operation of this.operations.operations()) {
      this.release(operation)
      operation.fail(error)
    }
  }

  private dispatch(status: number, bytes: number, userData: number): void {
    const operation = this.operations.get(userData)
    if (operation === undefined) return
    if (operation.absorb !== undefined && operation.absorb(operation, status)) return
    this.release(operation)
    operation.complete(status, bytes)
  }

  private drain(): void {
    if (this.cq === 0n || this.failure !== undefined) return
    const view = this.resultView
    for (;;) {
      const n = this.rio.RIODequeueCompletion(this.cq, this.results, BATCH)
      if (n === Abi.RIO_CORRUPT_CQ) return this.fail(corruptQueue(this.ws.WSAGetLastError()))
      for (let i = 0; i < n; i++) {
        const at = i * RESULT_BYTES
        this.dispatch(view.getInt32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 16, true))
      }
      if (n < BATCH) return
    }
  }

  /** Waits for the completion event on a worker thread while anything is outstanding. */
  private wait(): void {
    if (this.closed || this.waiting || this.operations.count === 0 || this.failure !== undefined) return
    if (!this.armed) {
      const code = this.rio.RIONotify(this.cq)
      if (code !== 0 && code !== WSAEALREADY) return this.fail(fromCode(code, "RIONotify"))
      this.armed = true
    }
    this.waiting = true
    this.ws.waitAsync(this.event, WAIT_MS, (_error, result) => {
      this.waiting = false
      if (this.closed) {
        this.ws.CloseHandle(this.event)
        return
      }
      if (result === WAIT_OBJECT_0) this.armed = false
      this.drain()
      this.wait()
    })
  }
}
