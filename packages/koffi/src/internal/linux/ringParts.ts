/**
 * What the receive rings of the loop share: flushing a sink once per batch of completions, and
 * closing something whose requests the kernel may still hold.
 *
 * @internal
 */
import type { RingLoop } from "./ring.js"

/**
 * Calls `flush` once after the batch of completions being read, however many of them queue
 * it: a sink's waiting fibers wake once per batch, not once per completion.
 */
export class BatchFlush {
  private queued = false

  constructor(private readonly loop: RingLoop, private readonly flush: () => void) {}

  queue(): void {
    if (this.queued) return
    this.queued = true
    this.loop.afterDrain(this.run)
  }

  private readonly run = (): void => {
    this.queued = false
    this.flush()
  }
}

/**
 * The close of something whose requests the kernel may still hold: it is asked once, and
 * finishes once those requests have ended (or the io_uring is gone), letting go of what it
 * holds (`release`) and then running every `done` given, or at once when it already has.
 */
export class Closing {
  /** A close was asked (or the owner was abandoned): what arrives now is not wanted. */
  closing = false
  /** The close has finished. */
  finished = false
  private done: (() => void) | undefined = undefined

  constructor(private readonly release: () => void) {}

  /** Keeps `done` for the finish; true when this call begins the close (the owner starts it). */
  begin(done: () => void): boolean {
    if (this.finished) {
      done()
      return false
    }
    this.done = done
    if (this.closing) return false
    this.closing = true
    return true
  }

  /** Finishes the close, once: `release`, then the waiting `done`. */
  finish(): void {
    if (this.finished) return
    this.closing = true
    this.finished = true
    this.release()
    const done = this.done
    this.done = undefined
    done?.()
  }

  /** The layer's teardown: false when the close already finished, else closing from now on. */
  abandon(): boolean {
    if (this.finished) return false
    this.closing = true
    return true
  }
}
