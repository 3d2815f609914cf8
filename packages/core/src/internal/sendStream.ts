/**
 * Many slices sent down one stream as one request: one Effect, one completion callback, and
 * one send in the kernel at a time — vectored where the driver can (`gatherSend`), and a
 * partial send is finished (from where the kernel stopped) before anything after it goes, so
 * the batch's bytes never reorder. The chain takes one place in the socket's send queue and
 * holds a token on every slice's registration until it ends. (Sends that other fibers make on
 * the same stream meanwhile take other places, so their bytes may land between the chain's.)
 *
 * A chain that must not wait for room (`unsafeSendNow`) ends instead at the first send the
 * kernel took only part of, with the count: its caller keeps the rest, waits for room without
 * holding the slice (`unsafeWhenWritable`) and sends it then — so a peer that stops reading
 * holds no registered memory.
 */
import * as Effect from "effect/Effect"
import * as CodedError from "../CodedError.js"
import type { NetDriverError, NetSocket, Pending } from "../Driver.js"
import type { SocketError } from "../RegisteredSocket.js"
import type { SliceImpl } from "./registration.js"
import type { InKernel } from "./requests.js"
import { aborted, type SocketState } from "./requests.js"

class Chain implements InKernel {
  liveIndex = -1
  private index = 0
  /** What the send in flight asked the kernel to take (a chain that must not wait stops short of it). */
  private asked = 0
  /** Bytes of `slices[index]` already sent. */
  private sent = 0
  private total = 0
  /** Slices of at least one byte sent whole: the messages the metrics count. */
  private whole = 0
  private tokens = 0
  private pending: Pending | undefined = undefined
  private begun = false
  private over = false
  /** The canceller of an interrupted chain: nothing more is sent, and it waits for the cancelled send's completion. */
  private interrupted: (() => void) | undefined = undefined

  constructor(
    private readonly state: SocketState,
    private readonly socket: NetSocket,
    private readonly slices: ReadonlyArray<SliceImpl>,
    /** Told how the chain ended (its failure already counted in the socket's metrics). */
    private readonly onDone: (error: SocketError | undefined, sent: number) => void,
    private readonly now = false
  ) {}

  /** Its place in the send queue is granted. */
  readonly begin = (): void => {
    this.begun = true
    if (this.state.closed) return this.finish(aborted("the socket is closed"))
    for (const slice of this.slices) {
      const refused = slice.registration.unsafeAcquireToken()
      if (refused !== undefined) return this.finish(refused)
      this.tokens++
    }
    this.state.track(this)
    this.next()
  }

  /** Sends the rest of the current slice, skipping empty ones; finishes after the last. */
  private next(): void {
    while (this.index < this.slices.length && this.slices[this.index]!.length === 0) this.index++
    if (this.index === this.slices.length) return this.finish(undefined)
    if (this.interrupted !== undefined) return this.finish(undefined)
    if (this.state.closed) return this.finish(aborted("the socket is closed"))
    const { net } = this.state
    const left = this.slices.length - this.index
    if (left > 1 && net.gatherSend !== undefined && !this.now) {
      const count = Math.min(left, net.gatherSend.maxRegions)
      this.pending = net.gatherSend.send(this.socket, this.slices, this.index, count, this.sent, this.done)
      return
    }
    const slice = this.slices[this.index]!
    // A whole slice goes as it is; only the rest of a partial send needs a slice of its own.
    const region = this.sent === 0 ? slice : slice.sub(this.sent, slice.length - this.sent)
    this.asked = region.length
    this.pending = this.now && net.sendNow !== undefined
      ? net.sendNow(this.socket, region, this.done)
      : net.send(this.socket, region, this.done)
  }

  private readonly done = (result: number | NetDriverError): void => {
    this.pending = undefined
    if (result instanceof Error) return this.finish(result)
    this.total += result
    // The bytes written run on through the slices, from where the last send stopped.
    for (let bytes = result; bytes > 0 && this.index < this.slices.length;) {
      const take = Math.min(bytes, this.slices[this.index]!.length - this.sent)
      bytes -= take
      this.sent += take
      if (this.sent === this.slices[this.index]!.length) {
        this.index++
        this.sent = 0
        this.whole++
      }
    }
    if (this.now && result < this.asked) return this.finish(undefined)
    this.next()
  }

  cancel(): void {
    this.pending?.cancel()
  }

  interrupt(settled: () => void): void {
    if (this.over) return settled()
    if (!this.begun) {
      // Still waiting for its place: nothing was sent.
      this.over = true
      this.state.sends.withdraw(this.begin)
      return settled()
    }
    this.interrupted = settled
    // The send in flight is cancelled; its completion (which always comes) ends the chain.
    if (this.pending === undefined) this.finish(undefined)
    else this.pending.cancel()
  }

  private finish(error: NetDriverError | undefined): void {
    if (this.over) return
    this.over = true
    for (let i = 0; i < this.tokens; i++) this.slices[i]!.registration.unsafeReleaseToken()
    this.state.sends.leave()
    this.state.settle(this)
    // The slices sent whole and every byte the kernel took.
    this.state.metrics.sent(this.whole, this.total)
    if (this.interrupted !== undefined) return this.interrupted()
    const failure = error === undefined || (this.slices.length === 1 && this.total === 0) ? error : this.partial(error)
    if (failure !== undefined) this.state.metrics.failed(failure)
    this.onDone(failure, this.total)
  }

  /** The error, saying how much of what was to be sent the kernel took. */
  private partial(error: NetDriverError): NetDriverError {
    let bytes = 0
    for (const slice of this.slices) bytes += slice.length
    return CodedError.fromCode(error.code, {
      operation: error.operation,
      message: `${error.message} (the kernel had taken ${this.total} of the ${bytes} bytes to send)`,
      cause: error.cause
    })
  }
}

/** Ends a callback call with `error`, counted in the socket's metrics. */
export const failCallback = <B>(
  state: SocketState,
  onDone: (error: SocketError, also: B) => void,
  error: SocketError,
  also: B
): void => {
  state.metrics.failed(error)
  onDone(error, also)
}

/** What a chain's end resumes its fiber with. */
const outcome = (error: SocketError | undefined): Effect.Effect<void, SocketError> =>
  error === undefined ? Effect.void : Effect.fail(error)

/**
 * Sends every byte of the slices `prepare` gives, in order, as one request of the stream's
 * send queue: one Effect, whose failures (the checks' of `prepare` too) are counted here.
 * `prepare` runs when the Effect runs; `undefined` from it means nothing to send.
 */
export const sendStream = (
  state: SocketState,
  socket: NetSocket,
  prepare: () => ReadonlyArray<SliceImpl> | SocketError | undefined
): Effect.Effect<void, SocketError> =>
  Effect.async<void, SocketError>((resume) => {
    const slices = prepare()
    if (slices === undefined) return resume(Effect.void)
    const refused = slices instanceof Error ? slices : state.closed ? aborted("the socket is closed") : undefined
    if (refused !== undefined) return state.refuse(resume, refused)
    const chain = new Chain(state, socket, slices as ReadonlyArray<SliceImpl>, (error) => resume(outcome(error)))
    state.sends.enter(chain.begin)
    return Effect.async<void>((settled) => chain.interrupt(() => settled(Effect.void)))
  })

/** `sendStream` for callers without a fiber: `onDone` once, with the error if any; only the socket's close stops it. */
export const unsafeSendStream = (
  state: SocketState,
  socket: NetSocket,
  slices: ReadonlyArray<SliceImpl>,
  onDone: (error: SocketError | undefined) => void
): void => {
  if (state.closed) return failCallback(state, onDone, aborted("the socket is closed"), undefined)
  state.sends.enter(new Chain(state, socket, slices, onDone).begin)
}

/**
 * Sends what the stream takes of `slices` now, in order, without waiting for room: `onDone`
 * once, with the bytes the kernel took — fewer than asked when its send buffer filled.
 */
export const unsafeSendNow = (
  state: SocketState,
  socket: NetSocket,
  slices: ReadonlyArray<SliceImpl>,
  onDone: (error: SocketError | undefined, sent: number) => void
): void => {
  if (state.closed) return failCallback(state, onDone, aborted("the socket is closed"), 0)
  state.sends.enter(new Chain(state, socket, slices, onDone, true).begin)
}

/** A wait for room in a stream's send buffer; a closing socket cancels it and waits for its end. */
class WritableWait implements InKernel {
  liveIndex = -1
  private pending: Pending | undefined = undefined

  constructor(
    private readonly state: SocketState,
    private readonly onReady: (error: SocketError | undefined) => void
  ) {}

  start(socket: NetSocket, whenWritable: NonNullable<SocketState["net"]["whenWritable"]>): void {
    this.state.track(this)
    this.pending = whenWritable(socket, this.done)
  }

  private readonly done = (result: number | NetDriverError): void => {
    this.pending = undefined
    this.state.settle(this)
    if (result instanceof Error) return failCallback(this.state, this.onReady, result, undefined)
    this.onReady(undefined)
  }

  cancel(): void {
    this.pending?.cancel()
  }
}

/** Calls `onReady` once the stream's send buffer has room (at once where the driver cannot tell). */
export const unsafeWhenWritable = (
  state: SocketState,
  socket: NetSocket,
  onReady: (error: SocketError | undefined) => void
): void => {
  if (state.closed) return failCallback(state, onReady, aborted("the socket is closed"), undefined)
  const { whenWritable } = state.net
  if (whenWritable === undefined) return onReady(undefined)
  new WritableWait(state, onReady).start(socket, whenWritable)
}
