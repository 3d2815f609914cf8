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
  /** Its place among its socket's requests in the kernel (-1: none), kept by `Requests`. */
  liveIndex: number
}

/** One request: waiting for a place, then in the kernel until its `done` runs. */
class Request implements InKernel {
  liveIndex = -1
  pending: Pending | undefined = undefined
  settled = false
  /** Set when the waiting fiber was interrupted: the canceller waits for the completion. */
  onSettled: (() => void) | undefined = undefined

  cancel(): void {
    this.pending?.cancel()
  }
}

/**
 * What a single operation's checks may find instead of a slice: its result, with no I/O to do
 * (a receive on a stream whose reading side is shut reads 0 bytes).
 */
export class Settled<A> {
  constructor(readonly value: A) {}
}

/**
 * Requests in the kernel, so that closing can abort them and wait for their completions.
 * Each holds a token on its slice's registration until its completion has been consumed.
 */
export class Requests {
  closed = false
  /**
   * The requests in the kernel, each knowing its index (a removal swaps the last one into its
   * place): cheaper per operation than a Set, which hashes every new request object.
   */
  private readonly live: Array<InKernel> = []
  private drained: (() => void) | undefined = undefined

  constructor(readonly metrics: SocketMetrics) {}

  /** Counts `request` among those a close must wait for. */
  track(request: InKernel): void {
    request.liveIndex = this.live.length
    this.live.push(request)
    this.metrics.inFlight(1)
  }

  /** `request` has completed: a close no longer waits for it. */
  settle(request: InKernel): void {
    const index = request.liveIndex
    if (index >= 0) {
      const last = this.live.pop()!
      if (last !== request) {
        this.live[index] = last
        last.liveIndex = index
      }
      request.liveIndex = -1
      this.metrics.inFlight(-1)
    }
    if (this.live.length === 0 && this.drained !== undefined) {
      const resume = this.drained
      this.drained = undefined
      resume()
    }
  }

  /**
   * Runs `start` in the kernel as one request of `queue` (see `enter`): interruption while
   * waiting for a place leaves the line; interruption in the kernel cancels the request and
   * waits for its completion.
   */
  submit<A>(
    queue: RequestQueue,
    slice: SliceImpl | undefined,
    start: (done: Done<A>) => Pending,
    abandon?: (value: A) => void
  ): Effect.Effect<A, SocketError> {
    return Effect.async<A, SocketError>((resume) => this.enter(resume, queue, slice, start, abandon, false))
  }

  /**
   * One call of the single-operation API as one Effect: `prepare` runs when the Effect runs (the
   * call's checks: its slice, the typed error, or its result when there is nothing to do), then
   * the operation is submitted; failures are counted here, so the call needs no wrapper of its
   * own. An operation the kernel ends by itself at once (`cancellable` false: a datagram's send,
   * which no driver cancels) waits without a canceler and uninterruptibly, which spares the
   * costlier interruptible wait: an interruption takes effect at its completion — also for one
   * still waiting for a place in the queue, which then goes out in its turn instead of leaving
   * the line.
   */
  single<A>(
    queue: RequestQueue,
    cancellable: boolean,
    prepare: () => SliceImpl | SocketError | Settled<A>,
    start: (slice: SliceImpl, done: Done<A>) => Pending
  ): Effect.Effect<A, SocketError> {
    const operation = Effect.async<A, SocketError>((resume) => {
      const slice = prepare()
      if (slice instanceof Settled) return resume(Effect.succeed(slice.value))
      if (slice instanceof Error) return this.refuse(resume, slice)
      return this.enter(resume, queue, slice, (done) => start(slice, done), undefined, true, cancellable)
    })
    return cancellable ? operation : Effect.uninterruptible(operation)
  }

  /**
   * Enters `queue` and starts the request; resumes the caller with its result. Returns the
   * canceler for an interruptible wait: interruption while waiting for a place leaves the line,
   * in the kernel it cancels the request and waits for its completion. A result that arrives
   * for an interrupted request goes to `abandon` (a connected socket must still be closed).
   */
  private enter<A>(
    resume: (effect: Effect.Effect<A, SocketError>) => void,
    queue: RequestQueue,
    slice: SliceImpl | undefined,
    start: (done: Done<A>) => Pending,
    abandon: ((value: A) => void) | undefined,
    countFailures: boolean,
    cancellable = true
  ): Effect.Effect<void> | undefined {
    if (this.closed) {
      this.reject(resume, countFailures, aborted("the socket is closed"))
      return undefined
    }
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
        return this.reject(resume, countFailures, refused)
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
        if (result instanceof Error) this.reject(resume, countFailures, result as NetDriverError)
        else resume(Effect.succeed(result as A))
      })
    }
    queue.enter(begin)
    if (!cancellable) return undefined
    return Effect.async<void>((settled) => {
      if (request.pending === undefined) {
        queue.withdraw(begin)
        return settled(Effect.void)
      }
      if (request.settled) return settled(Effect.void)
      request.onSettled = () => settled(Effect.void)
      request.pending.cancel()
    })
  }

  /** Resumes with `error`, counted if the caller has no counting wrapper of its own. */
  private reject<A>(
    resume: (effect: Effect.Effect<A, SocketError>) => void,
    count: boolean,
    error: SocketError
  ): void {
    if (count) return this.refuse(resume, error)
    resume(Effect.fail(error))
  }

  /** Ends a call's Effect with `error`, counted in the socket's metrics: a call refused before any I/O. */
  refuse<A>(resume: (effect: Effect.Effect<A, SocketError>) => void, error: SocketError): void {
    this.metrics.failed(error)
    resume(Effect.fail(error))
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
      if (this.live.length === 0) return Effect.void
      // A cancel may settle its request at once, reordering the list: cancel a copy's worth.
      for (const request of this.live.slice()) request.cancel()
      if (this.live.length === 0) return Effect.void
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
