/**
 * Shared stream slots for drivers without their own (Winsock RIO, the double, a kernel
 * without multishot receives): each stream has at most one receive posted, into a free slot,
 * so its chunks complete in order; a stream that finds no free slot waits in line for the next
 * one that comes back. Streams are woken once per burst of completions (a microtask after the
 * driver's completion handling), not once per chunk.
 */
import type { Done, NetDriver, NetSocket, Pending, StreamReceiver, StreamSink, StreamSlots } from "../Driver.js"
import type { SliceImpl } from "./registration.js"

const MECHANISM = "one receive posted per stream"

export const postedStreams = (net: NetDriver, slices: ReadonlyArray<SliceImpl>): StreamSlots => {
  // Free slots as a stack; streams waiting for one, oldest first.
  const free = new Int32Array(slices.length)
  let freeCount = 0
  const waiting: Array<Posted> = []
  let closed = false
  // The streams that heard of a completion since the last flush.
  const touched: Array<Posted> = []

  const flush = () => {
    for (const receiver of touched.splice(0)) receiver.flush()
  }

  const recycle = (slot: number): void => {
    if (closed) return
    const next = waiting.shift()
    if (next !== undefined) next.post(slot)
    else free[freeCount++] = slot
  }

  /** One stream: idle, waiting for a slot, or with one receive posted. */
  class Posted implements StreamReceiver {
    private pending: Pending | undefined = undefined
    private slot = -1
    private paused = false
    private ended = false
    private onClosed: (() => void) | undefined = undefined
    private closing = false
    inLine = false
    private touched = false

    constructor(private readonly socket: NetSocket, private readonly sink: StreamSink) {}

    /** Posts a receive if the stream wants one and none is posted. */
    want(): void {
      if (this.paused || this.ended || this.closing || this.pending !== undefined || this.inLine) return
      if (freeCount > 0) return this.post(free[--freeCount]!)
      this.inLine = true
      waiting.push(this)
    }

    post(slot: number): void {
      this.inLine = false
      this.slot = slot
      this.pending = net.receive(this.socket, slices[slot]!, this.completed)
    }

    // Made once per stream: a completion allocates nothing of ours.
    private readonly completed: Done<number> = (result) => {
      const slot = this.slot
      this.pending = undefined
      this.slot = -1
      if (this.closing) {
        recycle(slot)
        return this.finish()
      }
      if (typeof result === "number" && result > 0) {
        this.sink.deliver(slot, result)
        this.want()
      } else {
        recycle(slot)
        this.ended = true
        this.sink.end(typeof result === "number" ? undefined : result)
      }
      if (!this.touched) {
        this.touched = true
        if (touched.push(this) === 1) queueMicrotask(flush)
      }
    }

    flush(): void {
      this.touched = false
      this.sink.flush()
    }

    pause(): void {
      this.paused = true
      this.leaveLine()
    }

    resume(): void {
      this.paused = false
      this.want()
    }

    close(done: () => void): void {
      this.closing = true
      this.onClosed = done
      this.leaveLine()
      if (this.pending === undefined) this.finish()
      else this.pending.cancel()
    }

    private leaveLine(): void {
      if (!this.inLine) return
      this.inLine = false
      waiting.splice(waiting.indexOf(this), 1)
    }

    private finish(): void {
      const done = this.onClosed
      this.onClosed = undefined
      done?.()
    }
  }

  for (let slot = slices.length - 1; slot >= 0; slot--) free[freeCount++] = slot

  return {
    mechanism: MECHANISM,
    recycle,
    receive: (socket, sink) => {
      const receiver = new Posted(socket, sink)
      receiver.want()
      return receiver
    },
    close: (done) => {
      closed = true
      done()
    }
  }
}
