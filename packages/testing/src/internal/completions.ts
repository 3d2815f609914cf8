/**
 * The simulated completion queue of the double's network: every request started on a socket
 * is finished here, never inside the call that started it. A result is decided at once or
 * later (a datagram arrives, a peer writes); it is then queued and delivered in microtasks,
 * at most `completionQueueSize` per reap, in the order results were decided. Cancellation
 * also goes through the queue, so a cancelled request's `done` still runs exactly once.
 *
 * `call` arguments here and in the socket modules name the native call a request stands for
 * (`RIOReceiveEx`, `ConnectEx`), as its errors report it.
 */
import type { Done, NetDriverError, Pending } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"

/** A request handed to the simulated kernel: `settled` once its result is decided, so it is decided once. */
export interface Request<A> {
  readonly done: Done<A>
  settled: boolean
}

/** An entry of a socket's list of requests waiting for the network (a receive's entry adds its slice). */
export interface Waiter<A> {
  readonly request: Request<A>
}

/** The `Pending` of a request whose result was decided at once: there is nothing left to cancel. */
export const decided: Pending = { cancel: () => {} }

export class CompletionQueue {
  private readonly queue: Array<() => void> = []
  private draining = false
  private started = 0

  constructor(private readonly size: number) {
    if (!(size >= 1 && (Number.isInteger(size) || size === Infinity))) {
      throw new RangeError(`completionQueueSize must be a positive integer, got ${size}`)
    }
  }

  /** Requests started whose `done` has not run yet. */
  get outstanding(): number {
    return this.started
  }

  start<A>(done: Done<A>): Request<A> {
    this.started++
    return { done, settled: false }
  }

  /** Decides `request`'s result and queues its delivery; a second decision is ignored (the first one won). */
  settle<A>(request: Request<A>, result: A | NetDriverError): void {
    if (request.settled) return
    request.settled = true
    this.post(() => {
      this.started--
      request.done(result)
    })
  }

  /**
   * Counts an operation that is not one request, such as a stream's receiving into shared
   * slots (one multishot receive in a kernel), as outstanding until {@link finishOperation}.
   */
  startOperation(): void {
    this.started++
  }

  /** The operation counted by {@link startOperation} has ended. */
  finishOperation(): void {
    this.started--
  }

  /**
   * Queues `entry` for a reap, in order with the requests' completions and within the reap's
   * size: a driver's own completion work (a stream's turn at the shared slots), made once by
   * its owner so that queueing it allocates nothing.
   */
  post(entry: () => void): void {
    this.queue.push(entry)
    if (!this.draining) {
      this.draining = true
      queueMicrotask(this.drain)
    }
  }

  /** Settles a request whose result is known now: it never waits, so cancelling it does nothing. */
  now<A>(request: Request<A>, result: A | NetDriverError): Pending {
    this.settle(request, result)
    return decided
  }

  /**
   * A request that waits in `waiters` until the network answers it. Cancelling takes it off
   * the list (so a later datagram or byte goes to the next waiter) and ends it aborted.
   */
  wait<A>(request: Request<A>, waiters: Array<Waiter<A>>, call: string): Pending {
    return {
      cancel: () => {
        if (request.settled) return
        waiters.splice(waiters.findIndex((waiter) => waiter.request === request), 1)
        this.settle(request, aborted(call))
      }
    }
  }

  /** One drain is one reap of the completion queue: at most `size` entries. */
  private readonly drain = (): void => {
    const batch = this.queue.splice(0, this.size)
    if (this.queue.length > 0) queueMicrotask(this.drain)
    else this.draining = false
    for (const deliver of batch) {
      try {
        deliver()
      } catch (error) {
        // A throwing callback is the caller's bug; it must not swallow the others' completions.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }
}

/** The error of a request ended by a cancel or by its socket closing before the network answered it. */
export const aborted = (call: string): RioError.WSAECONNABORTED =>
  new RioError.WSAECONNABORTED({
    operation: call,
    message: "The operation was cancelled before it completed (its socket is closing or its fiber was " +
      "interrupted). Nothing was transferred by it."
  })
