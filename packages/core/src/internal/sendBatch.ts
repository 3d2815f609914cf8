/**
 * Many sends as one request: one Effect for the whole batch and one completion callback
 * shared by all its sends (no closure, Effect or object of ours per datagram), within the
 * socket's request queue (sends beyond its depth go out, in order, as earlier ones complete).
 * Every slice holds a token on its registration from its submission until the batch ends.
 *
 * The batches are datagrams', which no driver cancels (the kernel hands a datagram over at
 * once): as a single datagram's send, a batch waits uninterruptibly and without a canceler —
 * the costly part of an interruptible wait — so an interrupted batch goes out whole, and the
 * interruption takes effect when it has. Only its socket's close stops it early.
 */
import * as Effect from "effect/Effect"
import * as CodedError from "../CodedError.js"
import type { NetDriverError, Pending } from "../Driver.js"
import type { SocketError } from "../RegisteredSocket.js"
import type { SliceImpl } from "./registration.js"
import type { InKernel, RequestQueue, Requests } from "./requests.js"
import { aborted } from "./requests.js"

/** Submits one send of a batch: `slice` to `target`; its completion calls `done`. */
export type SubmitOne<T> = (slice: SliceImpl, target: T, done: (result: number | NetDriverError) => void) => Pending

/** A batch checked and ready to go: its slices, and where each goes. */
export interface Outgoing<T> {
  readonly slices: ReadonlyArray<SliceImpl>
  readonly targets: ReadonlyArray<T>
}

class Batch<T> implements InKernel {
  liveIndex = -1
  private submitted = 0
  private completed = 0
  /** The sends that succeeded and their bytes, for the traffic metrics at the batch's end. */
  private sentCount = 0
  private sentBytes = 0
  private firstError: NetDriverError | undefined = undefined
  private waitingForPlace = false
  private readonly pending: Array<Pending | undefined>
  private over = false

  constructor(
    private readonly requests: Requests,
    private readonly queue: RequestQueue,
    private readonly slices: ReadonlyArray<SliceImpl>,
    private readonly targets: ReadonlyArray<T>,
    private readonly submit: SubmitOne<T>,
    private readonly resume: (effect: Effect.Effect<number, SocketError>) => void
  ) {
    this.pending = new Array(slices.length)
  }

  /** The one completion callback of every send of the batch. */
  private readonly done = (result: number | NetDriverError): void => {
    this.completed++
    this.queue.leave()
    if (result instanceof Error) this.firstError ??= result
    else {
      this.sentCount++
      this.sentBytes += result
    }
    this.settleIfDone()
  }

  /** A place handed over by a completing request: the next send takes it. */
  private readonly granted = (): void => {
    this.waitingForPlace = false
    if (this.submitNext()) this.fill()
    else this.settleIfDone()
  }

  start(): void {
    this.requests.track(this)
    this.fill()
    this.settleIfDone()
  }

  private fill(): void {
    while (this.submitted < this.slices.length && this.firstError === undefined) {
      if (!this.queue.tryEnter()) {
        this.waitingForPlace = true
        this.queue.wait(this.granted)
        return
      }
      if (!this.submitNext()) return
    }
  }

  /** Submits the next send in a place already taken; false when the batch stops here. */
  private submitNext(): boolean {
    if (this.firstError !== undefined || this.requests.closed) {
      this.queue.leave()
      if (this.requests.closed) this.firstError ??= aborted("the socket is closed")
      return false
    }
    const slice = this.slices[this.submitted]!
    const refused = slice.registration.unsafeAcquireToken()
    if (refused !== undefined) {
      this.queue.leave()
      this.firstError = refused
      return false
    }
    const index = this.submitted++
    this.pending[index] = this.submit(slice, this.targets[index]!, this.done)
    return true
  }

  cancel(): void {
    for (let i = 0; i < this.submitted; i++) this.pending[i]?.cancel()
  }

  private get finished(): boolean {
    if (this.waitingForPlace || this.completed < this.submitted) return false
    return this.submitted === this.slices.length || this.firstError !== undefined
  }

  private settleIfDone(): void {
    if (this.over || !this.finished) return
    this.over = true
    for (let i = 0; i < this.submitted; i++) this.slices[i]!.registration.unsafeReleaseToken()
    this.requests.settle(this)
    this.requests.metrics.sent(this.sentCount, this.sentBytes)
    if (this.firstError !== undefined) {
      const error = partial(this.firstError, this.submitted, this.slices.length)
      this.requests.metrics.failed(error)
      return this.resume(Effect.fail(error))
    }
    this.resume(Effect.succeed(this.slices.length))
  }
}

/** The first error of a batch, saying how much of the batch the kernel took. */
const partial = (error: NetDriverError, submitted: number, total: number): NetDriverError =>
  total === 1 ? error : CodedError.fromCode(error.code, {
    operation: error.operation,
    message: `${error.message} (sendMany: this datagram's error ended the batch; ${submitted} of its ${total} ` +
      "datagrams had been handed to the kernel)",
    cause: error.cause
  })

/**
 * Sends the batch `prepare` checks (when the Effect runs) through `submit`, as one request of
 * `queue`: one uninterruptible Effect (see above), whose failures (the checks' too) are counted here.
 */
export const sendBatch = <T>(
  requests: Requests,
  queue: RequestQueue,
  prepare: () => Outgoing<T> | SocketError,
  submit: SubmitOne<T>
): Effect.Effect<number, SocketError> =>
  Effect.uninterruptible(Effect.async<number, SocketError>((resume) => {
    const outgoing = prepare()
    if (!(outgoing instanceof Error) && outgoing.slices.length === 0) return resume(Effect.succeed(0))
    const refused = outgoing instanceof Error ? outgoing : requests.closed ? aborted("the socket is closed") : undefined
    if (refused !== undefined) return requests.refuse(resume, refused)
    const { slices, targets } = outgoing as Outgoing<T>
    const batch = new Batch(requests, queue, slices, targets, submit, resume)
    batch.start()
  }))
