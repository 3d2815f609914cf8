/**
 * What a socket has in the kernel: its request queues (RIO's per-socket limit on outstanding
 * sends and receives, FIFO backpressure beyond it) and the requests in flight, each holding a
 * token on its slice's registration until its completion has been consumed. Closing a socket
 * aborts its requests and waits for their completions.
 */
import * as Effect from "effect/Effect"
import type { Done, NetDriver, NetDriverError, NetSocket, Pending } from "../Driver.js"
import type { QueueOptions, SocketError } from "../RegisteredSocket.js"
import * as RioError from "../RioError.js"
import type { SocketMetrics } from "./observability.js"
import type { SliceImpl } from "./registration.js"

const DEFAULT_DEPTH = 64

/**
 * A socket's request queue in one direction: at most `depth` operations in the kernel; the
 * rest wait in FIFO order. Waiting is backpressure, never an error.
 */
export class RequestQueue {
  private active = 0
  private readonly waiters: Array<() => void> = []

  /**
   * `writes` names the operation of a queue whose requests write into their slices (the
   * receives): such a request is refused while another one writes any of its bytes.
   * `counts` says which traffic metric a completed request adds to, if any.
   */
  constructor(readonly depth: number, readonly writes?: string, readonly counts?: "sent" | "received") {}

  /** Runs `begin` now if there is room, or when a place is handed over (in order). */
  enter(begin: () => void): void {
    if (this.tryEnter()) begin()
    else this.wait(begin)
  }

  /** Whether an operation holds a place (is in the kernel) or waits for one. */
  get busy(): boolean {
    return this.active > 0 || this.waiters.length > 0
  }

  /** Takes a place if one is free now and no one waits for it. */
  tryEnter(): boolean {
    if (this.active >= this.depth || this.waiters.length > 0) return false
    this.active++
    return true
  }

  /** Waits in line: `begin` runs when a place is handed over. */
  wait(begin: () => void): void {
    this.waiters.push(begin)
  }

  /** Leaves the line without having entered; false if `begin` already got its place. */
  withdraw(begin: () => void): boolean {
    const index = this.waiters.indexOf(begin)
    if (index < 0) return false
    this.waiters.splice(index, 1)
    return true
  }

  leave(): void {
    // The place passes straight to the next in line, so no one can barge in.
    const next = this.waiters.shift()
    if (next !== undefined) next()
    else this.active--
  }

  /** Lets every waiter in, for a closing socket: each then fails and leaves. */
  flush(): void {
    for (const begin of this.waiters.splice(0)) {
      this.active++
      begin()
    }
  }
}

/** What a closing socket can cancel: a request, or a batch of them. */
export interface InKernel {
  readonly cancel: () => void
}

/** One request: waiting for a place, then in the kernel until its `done` runs. */
class Request implements InKernel {
  pending: Pending | undefined = undefined
  settled = false
  /** Set when the waiting fiber was interrupted: the canceller waits for the completion. */
  onSettled: (() => void) | undefined = undefined

  cancel(): void {
    this.pending?.cancel()
  }
}

/**
 * Requests in the kernel, so that closing can abort them and wait for their completions.
 * Each holds a token on its slice's registration until its completion has been consumed.
 */
export class Requests {
  closed = false
  private readonly live = new Set<InKernel>()
  private drained: (() => void) | undefined = undefined

  constructor(readonly metrics: SocketMetrics) {}

  /** Counts `request` among those a close must wait for. */
  track(request: InKernel): void {
    this.live.add(request)
    this.metrics.inFlight(1)
  }

  /** `request` has completed: a close no longer waits for it. */
  settle(request: InKernel): void {
    if (this.live.delete(request)) this.metrics.inFlight(-1)
    if (this.live.size === 0 && this.drained !== undefined) {
      const resume = this.drained
      this.drained = undefined
      resume()
    }
  }

  /**
   * Runs `start` in the kernel as one request of `queue`. Interruption while waiting for a
   * place leaves the line; interruption in the kernel cancels the request and waits for its
   * completion. A result that arrives for an interrupted request goes to `abandon` (a
   * connected socket must still be closed).
   */
  submit<A>(
    queue: RequestQueue,
    slice: SliceImpl | undefined,
    start: (done: Done<A>) => Pending,
    abandon?: (value: A) => void
  ): Effect.Effect<A, SocketError> {
    return Effect.async<A, SocketError>((resume) => {
      if (this.closed) return resume(Effect.fail(aborted("the socket is closed")))
      const request = new Request()
      const registration = slice?.registration
      const writes = queue.writes !== undefined && slice !== undefined
      const begin = () => {
        let refused = this.closed ? aborted("the socket is closed") : registration?.unsafeAcquireToken()
        if (refused === undefined && writes) {
          refused = claimWrite(queue.writes!, slice!)
          if (refused !== undefined) registration!.unsafeReleaseToken()
        }
        if (refused !== undefined) {
          queue.leave()
          return resume(Effect.fail(refused))
        }
        this.track(request)
        request.pending = start((result) => {
          request.settled = true
          if (writes) registration!.writes.release(slice!.offset, slice!.offset + slice!.length)
          registration?.unsafeReleaseToken()
          queue.leave()
          this.settle(request)
          if (queue.counts !== undefined && !(result instanceof Error)) this.count(queue.counts, result, slice)
          if (request.onSettled !== undefined) {
            if (abandon !== undefined && !(result instanceof Error)) abandon(result as A)
            return request.onSettled()
          }
          resume(result instanceof Error ? Effect.fail(result as NetDriverError) : Effect.succeed(result as A))
        })
      }
      queue.enter(begin)
      return Effect.async<void>((settled) => {
        if (request.pending === undefined) {
          queue.withdraw(begin)
          return settled(Effect.void)
        }
        if (request.settled) return settled(Effect.void)
        request.onSettled = () => settled(Effect.void)
        request.pending.cancel()
      })
    })
  }

  /** A completed single operation in the traffic metrics: its result is a byte count or a datagram. */
  private count(counts: "sent" | "received", result: unknown, slice: SliceImpl | undefined): void {
    const bytes = typeof result === "number" ? result : (result as { readonly length: number }).length
    // A TCP send the kernel took only part of is bytes, not a message sent whole.
    if (counts === "sent") this.metrics.sent(slice === undefined || bytes === slice.length ? 1 : 0, bytes)
    // A stream's receive of 0 bytes is its end, not a message (a datagram of 0 bytes is one).
    else if (bytes > 0 || typeof result !== "number") this.metrics.received(1, bytes)
  }

  /** Refuses new requests, aborts those in the kernel and waits for their completions. */
  abort(queues: ReadonlyArray<RequestQueue>): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      for (const queue of queues) queue.flush()
      if (this.live.size === 0) return Effect.void
      for (const request of this.live) request.cancel()
      return Effect.async<void>((resume) => {
        this.drained = () => resume(Effect.void)
      })
    })
  }
}

/** A socket with its request queues; closing aborts what it has in the kernel, then closes it. */
export class SocketState extends Requests {
  writeShut = false
  /**
   * Set by a shutdown of reading: receives end at once (0, or an empty batch) on every
   * backend, whatever the kernel still holds — Linux would hand out what was queued,
   * Winsock refuses, the double discards.
   */
  readShut = false
  readonly sends: RequestQueue
  readonly receives: RequestQueue

  /** `receiveName` is `"accept"` for a listener, whose "receives" are its accepts. */
  constructor(
    readonly net: NetDriver,
    readonly socket: NetSocket,
    queues: QueueOptions | undefined,
    receiveName: "receive" | "receiveFrom" | "accept",
    metrics: SocketMetrics
  ) {
    super(metrics)
    this.sends = new RequestQueue(queues?.maxOutstandingSends ?? DEFAULT_DEPTH, undefined, "sent")
    this.receives = receiveName === "accept"
      ? new RequestQueue(queues?.maxOutstandingReceives ?? DEFAULT_DEPTH)
      : new RequestQueue(queues?.maxOutstandingReceives ?? DEFAULT_DEPTH, receiveName, "received")
  }

  /** Aborts what the socket has in the kernel, waits for it, then closes the socket. */
  readonly closeSocket: Effect.Effect<void> = Effect.suspend(() =>
    this.closed
      ? Effect.void
      : Effect.zipRight(this.abort([this.sends, this.receives]), Effect.sync(() => this.net.close(this.socket)))
  )

  /** What the socket's scope runs when it closes. */
  readonly close: Effect.Effect<void> = this.closeSocket
}

/** Takes the bytes `slice` covers for a receive, or the error that they are being written already. */
const claimWrite = (operation: string, slice: SliceImpl): RioError.WSAEINVAL | undefined => {
  const start = slice.offset
  const taken = slice.registration.writes.claim(start, start + slice.length)
  if (taken === undefined) return undefined
  return new RioError.WSAEINVAL({
    operation,
    message: `Bytes [${start}, ${start + slice.length}) of registration ${slice.registration.id} overlap ` +
      `[${taken[0]}, ${taken[1]}), which a receive in flight is writing: two receives into the same bytes ` +
      "would overwrite each other. Give each receive a slice of its own (a lease each)."
  })
}

export const aborted = (why: string) =>
  new RioError.WSAECONNABORTED({ operation: "socket", message: `The operation was aborted: ${why}.` })
