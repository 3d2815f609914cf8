/**
 * The request queue of each connected or bound socket (RIOCreateRequestQueue), and posting
 * requests to it. The driver does not know the core's queue depths, so a request queue
 * starts small and doubles (RIOResizeRequestQueue) in the direction an operation would
 * overflow; the completion queue reserves room first, so it always holds every request that
 * could be outstanding.
 *
 * @internal
 */
import type { Done, NetDriverError, Pending } from "@effect-rio/core/Driver"
import { completeLater } from "../operations.js"
import * as Abi from "./abi.js"
import type { Completions, Operation } from "./completions.js"
import { closedByCancel, lastError, socketNotOpen } from "./errors.js"
import type { RioFunctions } from "./functionTable.js"
import type { WinSocket } from "./sockets.js"
import type { Native } from "./winsock.js"

/** The operation a request of `socket` serves, by its public name and the RIO call that posts it. */
const requestName = (socket: WinSocket, send: boolean): string =>
  socket.kind === "udp"
    ? (send ? "sendTo (RIOSendEx)" : "receiveFrom (RIOReceiveEx)")
    : (send ? "send (RIOSend)" : "receive (RIOReceive)")

/** How an operation reads its completion and reacts to cancellation. */
export interface Handling<A> {
  /** The operation's result from its RIORESULT. */
  readonly complete: (status: number, bytes: number, operation: Operation) => A | NetDriverError
  /** What a cancel does (RIO has none per request; see `cancel.ts`). */
  readonly cancel: (operation: Operation) => void
  readonly absorb?: (operation: Operation, status: number) => boolean
}

/** Creates, grows and posts to the request queues of the driver's sockets. */
export class RequestQueues {
  constructor(
    private readonly ws: Native,
    private readonly rio: RioFunctions,
    private readonly completions: Completions
  ) {}

  /** Gives `socket` its request queue. */
  create(socket: WinSocket): NetDriverError | undefined {
    const { completions, rio, ws } = this
    // Made with the first socket that needs one (a listener has none; its streams do).
    const missing = completions.open()
    if (missing !== undefined) return missing
    const depth = socket.maxReceive + socket.maxSend
    const error = completions.reserve(depth)
    if (error !== undefined) return error
    const create = () =>
      rio.RIOCreateRequestQueue(
        socket.native,
        socket.maxReceive,
        1,
        socket.maxSend,
        1,
        completions.queue,
        completions.queue,
        null
      )
    let rq = create()
    if (rq === Abi.RIO_INVALID_RQ && ws.WSAGetLastError() === Abi.WSAENOBUFS) {
      // The provider may still count queues of sockets closed a moment ago: grow and retry once.
      completions.grow()
      rq = create()
    }
    if (rq === Abi.RIO_INVALID_RQ) {
      const failure = lastError(ws, "RIOCreateRequestQueue")
      completions.unreserve(depth)
      return failure
    }
    socket.rq = rq
    return undefined
  }

  /** The socket is closed: its queue's room in the completion queue is free again. */
  release(socket: WinSocket): void {
    if (socket.rq !== 0n) this.completions.unreserve(socket.maxReceive + socket.maxSend)
  }

  /**
   * Posts one request: room in the request queue, an operation-table entry, then `issue` (a RIO call with
   * RIO_MSG_DEFER; false if it failed). `done` runs from the completion, never in here.
   */
  submit<A>(
    socket: WinSocket | undefined,
    send: boolean,
    done: Done<A>,
    issue: (socket: WinSocket, entry: number, userData: number) => boolean | NetDriverError,
    handling: Handling<A>
  ): Pending {
    const { completions } = this
    const { operations } = completions
    if (socket === undefined || socket.rq === 0n) return completeLater(done, socketNotOpen())
    if (completions.broken !== undefined) return completeLater(done, completions.broken)
    if (socket.aborted) return completeLater(done, closedByCancel(requestName(socket, send)))
    if (send ? socket.sends >= socket.maxSend : socket.receives >= socket.maxReceive) {
      const error = this.grow(socket, send)
      if (error !== undefined) return completeLater(done, error)
    }
    const entry = operations.take()
    const userData = operations.userData(entry)
    const issued = issue(socket, entry, userData)
    if (issued !== true) {
      operations.release(userData)
      return completeLater(done, issued === false ? lastError(this.ws, requestName(socket, send)) : issued)
    }
    const operation: Operation = {
      userData,
      entry,
      socket,
      send,
      cancelled: false,
      absorb: handling.absorb,
      complete: (status, bytes) => done(handling.complete(status, bytes, operation)),
      fail: (error) => done(error)
    }
    operations.set(entry, operation)
    if (send) socket.sends++
    else socket.receives++
    completions.defer(socket, send)
    return {
      cancel: () => {
        if (operation.cancelled || operations.get(userData) !== operation) return
        operation.cancelled = true
        handling.cancel(operation)
      }
    }
  }

  /** Doubles the request queue's depth in one direction. */
  private grow(socket: WinSocket, send: boolean): NetDriverError | undefined {
    const extra = send ? socket.maxSend : socket.maxReceive
    const error = this.completions.reserve(extra)
    if (error !== undefined) return error
    const receiveDepth = send ? socket.maxReceive : socket.maxReceive * 2
    const sendDepth = send ? socket.maxSend * 2 : socket.maxSend
    if (this.rio.RIOResizeRequestQueue(socket.rq, receiveDepth, sendDepth) === 0) {
      const failure = lastError(this.ws, "RIOResizeRequestQueue")
      this.completions.unreserve(extra)
      return failure
    }
    socket.maxReceive = receiveDepth
    socket.maxSend = sendDepth
    return undefined
  }
}
