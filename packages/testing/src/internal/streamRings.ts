/**
 * The double's TCP receive slots shared by many streams (`NetDriver.tcpReceiveRings`), with
 * io_uring's provided-buffer semantics rather than one receive posted per stream: a stream
 * takes a free slot only when it has bytes to put there, so a thousand idle streams hold no
 * slot and cannot starve a busy one (with one receive posted per stream they would hold every
 * slot while the streams behind them wait forever).
 *
 * - A stream's turn runs from the completion queue, like every completion of the double: it
 *   fills free slots with its bytes (at most one `limitChunk` each) and delivers them in order
 *   until its bytes, the free slots or the core's patience (a `pause` from inside `deliver`)
 *   run out. Each stream's sink is flushed once after the reap that touched it.
 * - A stream with bytes and no free slot is starved: it waits in the set's line (FIFO), and
 *   a recycled slot re-arms the line, as io_uring re-arms its starved multishot receives: its
 *   streams take their turns from the front while free slots last. Only streams with bytes
 *   wait there (one whose bytes went leaves), so none is woken for nothing, and a stream
 *   that starves again goes to the back.
 * - The peer's close ends the stream after its bytes; a reset ends it with the error a plain
 *   receive gets (`WSAECONNRESET`). A paused stream hears of neither until it resumes, as a
 *   cancelled RECV would not.
 * - Nothing is allocated per chunk: each stream's turn is one callback made with it, and the
 *   free slots and the line are reused arrays.
 */
import type {
  NetDriverError,
  NetSocket,
  Region,
  StreamReceiver,
  StreamRings,
  StreamSink,
  StreamSlots
} from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import type { CompletionQueue } from "./completions.js"
import type { Connection, Streams, StreamWatcher } from "./streams.js"
import { connectionReset } from "./streams.js"

// Named as io_uring's, which it simulates (what `receiveRing` reports, and what tools match on).
const MECHANISM = "provided buffers, a slot taken only when bytes arrive (the double's)"

/** The double's shared stream slots, over its connections and its completion queue. */
export const make = (completions: CompletionQueue, streams: Streams): StreamRings => ({
  open: (memory, slotBytes, slots) => new SharedSlots(completions, streams, memory, slotBytes, slots)
})

/** One set of slots: which are free, the streams receiving into them, and the starved ones. */
class SharedSlots implements StreamSlots {
  readonly mechanism = MECHANISM
  /** Free slots as a stack. */
  private readonly free: Int32Array
  private freeCount = 0
  /** Whether each slot is a stream's (delivered and not yet recycled): recycling a free one is the core's bug. */
  private readonly held: Uint8Array
  /** Receivers not yet closed: the set closes only after the last one. */
  private readonly receivers = new Set<SharedStream>()
  /** Receivers with bytes that found no free slot, oldest first. */
  private readonly line: Array<SharedStream> = []
  /** A turn of the line is in the completion queue. */
  private lineQueued = false
  /** Streams delivered to since their sinks were last flushed. */
  private touched: Array<SharedStream> = []
  private flushing: Array<SharedStream> = []
  private closing = false
  private onClosed: (() => void) | undefined = undefined

  constructor(
    readonly completions: CompletionQueue,
    readonly streams: Streams,
    private readonly memory: Region,
    readonly slotBytes: number,
    slots: number
  ) {
    this.free = new Int32Array(slots)
    this.held = new Uint8Array(slots)
    for (let slot = slots - 1; slot >= 0; slot--) this.free[this.freeCount++] = slot
  }

  /** Takes a free slot for a stream's next chunk: its index, or -1 when every slot is held. */
  takeSlot(): number {
    if (this.freeCount === 0) return -1
    const slot = this.free[--this.freeCount]!
    this.held[slot] = 1
    return slot
  }

  /** Copies `connection`'s next bytes into `slot`: how many (at least one, as the connection has some). */
  copyInto(connection: Connection, slot: number): number {
    const memory = this.memory
    return this.streams.take(connection, memory.memory, memory.offset + slot * this.slotBytes, this.slotBytes)
  }

  readonly recycle = (slot: number): void => {
    if (this.closing) return
    if (this.held[slot] !== 1) {
      throw new RangeError(`Slot ${slot} was recycled but no stream holds it (recycled twice?)`)
    }
    this.held[slot] = 0
    this.free[this.freeCount++] = slot
    // From the queue, never inside the call: the core recycles from its sinks' flush.
    if (this.line.length > 0 && !this.lineQueued) {
      this.lineQueued = true
      this.completions.post(this.serveLine)
    }
  }

  /** The starved streams take their turns, oldest first, while there are free slots. */
  private readonly serveLine = (): void => {
    this.lineQueued = false
    // A stream that starves again rejoins at the back, and only once every slot is taken.
    while (this.freeCount > 0 && this.line.length > 0) this.line.shift()!.unstarve()
  }

  starve(stream: SharedStream): void {
    this.line.push(stream)
  }

  leaveLine(stream: SharedStream): void {
    const at = this.line.indexOf(stream)
    if (at >= 0) this.line.splice(at, 1)
  }

  /** `stream` delivered or ended: its sink is flushed once, after this reap. */
  touch(stream: SharedStream): void {
    if (this.touched.push(stream) === 1) queueMicrotask(this.flush)
  }

  private readonly flush = (): void => {
    const batch = this.touched
    this.touched = this.flushing
    this.flushing = batch
    for (let i = 0; i < batch.length; i++) batch[i]!.flush()
    batch.length = 0
  }

  readonly receive = (socket: NetSocket, sink: StreamSink): StreamReceiver | NetDriverError => {
    if (this.closing) {
      return new RioError.WSAEINVAL({
        operation: "receiveMany",
        message: "These receive slots are closing: no stream can start receiving into them."
      })
    }
    const connection = this.streams.lookup(socket.handle, "receiveMany")
    if ("_tag" in connection) return connection
    if (connection.watcher !== undefined) {
      return new RioError.WSAEINVAL({
        operation: "receiveMany",
        message: `Socket ${socket.handle} already receives into shared slots; a stream has one receiver.`
      })
    }
    const stream = new SharedStream(this, connection, sink)
    this.receivers.add(stream)
    this.completions.startOperation()
    connection.watcher = stream
    // A reset before this call fails it as it fails a plain receive (which ends with 0 instead
    // when the peer's end of stream had come first).
    if (connection.reset && !connection.endedBeforeReset) {
      stream.fail(connectionReset("receiveMany", connection, "it was reset"))
    } else stream.wake()
    return stream
  }

  /** A receiver has closed: gone from the set (and the set too, if it was waiting for it). */
  closed(stream: SharedStream): void {
    this.receivers.delete(stream)
    this.completions.finishOperation()
    if (this.closing && this.receivers.size === 0) this.finish()
  }

  readonly close = (done: () => void): void => {
    if (this.closing) return
    this.closing = true
    this.onClosed = done
    // The core closes every receiver first; one still open keeps the set until it closes.
    if (this.receivers.size === 0) this.finish()
  }

  private finish(): void {
    const done = this.onClosed
    this.onClosed = undefined
    // Later, from the queue, like a kernel's answer: never inside the call.
    if (done !== undefined) this.completions.post(done)
  }
}

/** One stream's receiving into the set: idle, with a turn queued, starved, paused, ended or closing. */
class SharedStream implements StreamReceiver, StreamWatcher {
  private paused = false
  /** `end` was called: nothing more is delivered. */
  private ended = false
  private closing = false
  /** Its turn is in the completion queue. */
  private queued = false
  /** Waiting in the set's line for a free slot. */
  private starved = false
  /** Delivered or ended since its sink was last flushed. */
  private touched = false
  /** Why the stream broke, once it did: its end, after the bytes delivered before it. */
  private failure: NetDriverError | undefined = undefined
  private onClosed: (() => void) | undefined = undefined

  constructor(
    private readonly set: SharedSlots,
    private readonly connection: Connection,
    private readonly sink: StreamSink
  ) {}

  readonly wake = (): void => {
    // A starved stream with bytes left needs a slot, not a turn: the next recycle re-arms it.
    if (this.starved && this.connection.buffered > 0) return
    if (this.starved) this.leaveLine()
    this.queue()
  }

  readonly fail = (error: NetDriverError): void => {
    this.failure ??= error
    if (this.starved) this.leaveLine()
    this.queue()
  }

  /** Its turn in the line has come (the set took it out): take the free slots now. */
  unstarve(): void {
    this.starved = false
    this.run()
  }

  private queue(): void {
    if (this.queued || this.paused || this.ended) return
    this.queued = true
    this.set.completions.post(this.turn)
  }

  // Made once per stream, so that queueing a turn allocates nothing.
  private readonly turn = (): void => {
    this.queued = false
    if (this.closing) this.finish()
    else this.run()
  }

  /** Delivers the stream's bytes into free slots, or its end; starves when every slot is taken. */
  private run(): void {
    if (this.paused || this.ended || this.starved) return
    if (this.failure !== undefined) return this.end(this.failure)
    const { connection, set, sink } = this
    // `deliver` may pause the stream (the core's backpressure) or close it before it returns.
    while (connection.buffered > 0 && !this.paused && !this.closing) {
      const slot = set.takeSlot()
      if (slot < 0) {
        this.starved = true
        set.starve(this)
        return
      }
      sink.deliver(slot, set.copyInto(connection, slot))
      this.touch()
    }
    if (connection.buffered === 0 && !this.paused && !this.closing && set.streams.ended(connection)) {
      this.end(undefined)
    }
  }

  private end(error: NetDriverError | undefined): void {
    this.ended = true
    this.sink.end(error)
    this.touch()
  }

  private touch(): void {
    if (this.touched) return
    this.touched = true
    this.set.touch(this)
  }

  flush(): void {
    this.touched = false
    this.sink.flush()
  }

  readonly pause = (): void => {
    this.paused = true
    // Its bytes stay in the network; a turn already queued finds it paused and does nothing.
    if (this.starved) this.leaveLine()
  }

  readonly resume = (): void => {
    if (!this.paused) return
    this.paused = false
    this.queue()
  }

  readonly close = (done: () => void): void => {
    if (this.closing) return
    this.closing = true
    this.onClosed = done
    if (this.starved) this.leaveLine()
    if (this.connection.watcher === this) this.connection.watcher = undefined
    // Done from the queue, after any turn of this stream already in it.
    if (!this.queued) {
      this.queued = true
      this.set.completions.post(this.turn)
    }
  }

  private leaveLine(): void {
    this.starved = false
    this.set.leaveLine(this)
  }

  private finish(): void {
    const done = this.onClosed
    if (done === undefined) return
    this.onClosed = undefined
    this.set.closed(this)
    done()
  }
}
