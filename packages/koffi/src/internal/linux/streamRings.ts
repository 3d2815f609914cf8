/**
 * TCP receive slots on io_uring: one provided-buffer ring (IORING_REGISTER_PBUF_RING) whose
 * buffers are exactly the slots of one registration, shared by many streams (a listener's
 * accepted streams), and one multishot RECV per stream that takes a slot from it for each
 * chunk the stream receives. Pinned memory so grows with the set, not with the connections.
 *
 * - A stream has at most one RECV armed, so its chunks complete in the socket's order and no
 *   byte is consumed without a completion.
 * - The core pauses a stream that holds its share of the slots, but it hears of a slot only
 *   after the kernel filled it, and one issue of an unbounded multishot RECV on a stream with
 *   bytes waiting fills every free slot before the first completion is read. So each RECV ends
 *   after `burst` slots' worth of bytes (its total limit, `optlen`, Linux 6.17+): an eighth of
 *   the set, at most the 32 receives the kernel makes inline per issue anyway (so a bulk
 *   stream re-arms once per 32 full slots at most). The next RECV is armed only if the core
 *   has not paused the stream meanwhile. Older kernels refuse the limit (EINVAL): the set
 *   then takes one chunk per RECV.
 * - The multishot ends (no IORING_CQE_F_MORE) when the shared ring is empty: the kernel picks
 *   a buffer when it issues the receive, so -ENOBUFS comes even before any byte is waiting.
 *   The stream is then starved: it waits in the set's line, and every buffer given back
 *   re-arms the whole line (in order). Whichever of them has bytes waiting takes the buffer;
 *   the others either wait for bytes armed (holding nothing) or starve again. Re-arming only
 *   one stream per buffer would strand a buffer with a stream that has nothing to read while
 *   another one's bytes wait.
 * - `pause` (the core's backpressure) cancels the armed RECV; chunks completed before its last
 *   completion are still delivered, and -ECANCELED then is no error. `resume` re-arms, at once
 *   or when that last completion arrives.
 * - `close` cancels too, and reports once the RECV's last completion is in: only then may the
 *   core close the fd (fd numbers are reused at once). Chunks arriving meanwhile go back to
 *   the kernel for the other streams.
 * - The peer's orderly close is a completion of 0; a vanished peer is -ECONNRESET. Either ends
 *   the stream, which is never re-armed.
 * - Nothing is allocated per chunk: each stream is the loop's record of its RECV and reuses
 *   one submission, a completion only moves numbers, and the sink is flushed once per batch.
 *
 * Layouts are from `linux/io_uring.h`.
 *
 * @internal
 */
import type {
  NetDriverError,
  NetSocket,
  StreamReceiver,
  StreamRings,
  StreamSink,
  StreamSlots
} from "@effect-rio/core/Driver"
import type { BufferGroups, BufferRingOwner, ProvidedBuffers } from "./bufferRing.js"
import { IORING_RECV_MULTISHOT } from "./bufferRing.js"
import * as Errors from "./errors.js"
import * as Libc from "./libc.js"
import type { Submission } from "./queues.js"
import { IORING_CQE_F_MORE, IOSQE_BUFFER_SELECT, Opcode } from "./queues.js"
import type { Operation, RingLoop } from "./ring.js"
import { BatchFlush, Closing } from "./ringParts.js"

const MECHANISM = "multishot RECV into provided buffers"
/** The kernel's own cap on the receives one issue of a multishot RECV makes inline (MULTISHOT_MAX_RETRY). */
const MAX_BURST = 32

/** The stream slots run by `loop`, over buffer rings from `groups`. */
export const make = (loop: RingLoop, groups: BufferGroups): StreamRings => ({
  open: (memory, slotBytes, slots) =>
    groups.open(
      memory,
      slotBytes,
      slots,
      Errors.streamRingOperation,
      (buffers) => new SharedSlots(loop, buffers, Math.min(MAX_BURST, Math.max(1, Math.floor(slots / 8))))
    )
})

/** One set of slots: the buffer ring, the streams receiving into it, and the starved ones. */
class SharedSlots implements StreamSlots, BufferRingOwner {
  readonly mechanism = MECHANISM
  /** Receivers not yet closed: the set goes only after the last one. */
  private readonly receivers = new Set<Receiver>()
  /** Receivers whose multishot ended on an empty ring, oldest first. */
  private starved: Array<Receiver> = []
  /** The other list, swapped in while the starved are re-armed (so waking allocates nothing). */
  private waking: Array<Receiver> = []
  private readonly closer = new Closing(() => this.buffers.release())
  /** The bytes after which a RECV ends, so that the core's pause acts within `burst` full slots. */
  readonly budget: number
  /** Whether the kernel takes that limit; if not, each RECV takes one chunk. */
  bounded = true

  constructor(readonly loop: RingLoop, readonly buffers: ProvidedBuffers, burst: number) {
    this.budget = burst * buffers.slotBytes
  }

  readonly recycle = (slot: number): void => {
    if (!this.closer.closing) this.giveBack(slot)
  }

  /** Gives `slot` to the kernel, then re-arms the starved: whichever has bytes waiting takes it. */
  giveBack(slot: number): void {
    this.buffers.give(slot)
    if (this.starved.length === 0) return
    const line = this.starved
    this.starved = this.waking
    this.waking = line
    for (let i = 0; i < line.length; i++) line[i]!.unstarve()
    line.length = 0
  }

  starve(receiver: Receiver): void {
    this.starved.push(receiver)
  }

  leaveLine(receiver: Receiver): void {
    const at = this.starved.indexOf(receiver)
    if (at >= 0) this.starved.splice(at, 1)
  }

  readonly receive = (socket: NetSocket, sink: StreamSink): StreamReceiver | NetDriverError => {
    if (this.closer.closing) return Errors.closed(Errors.streamRingOperation)
    const receiver = new Receiver(this, socket.handle, sink)
    this.receivers.add(receiver)
    receiver.want()
    return receiver
  }

  /** A receiver's last request has ended: it is gone from the set (and the set, if it waited for it). */
  closed(receiver: Receiver): void {
    this.receivers.delete(receiver)
    if (this.closer.closing && this.receivers.size === 0) this.closer.finish()
  }

  readonly close = (done: () => void): void => {
    // The core closes every receiver first; one still live keeps the buffer ring registered.
    if (this.closer.begin(done) && this.receivers.size === 0) this.closer.finish()
  }

  /** The io_uring is gone (the layer shut down): end the streams, unmap, let waiting closes finish. */
  readonly abandon = (): void => {
    if (!this.closer.abandon()) return
    this.starved.length = 0
    for (const receiver of this.receivers) receiver.abandon()
    this.receivers.clear()
    this.closer.finish()
  }
}

/** One stream's receiving: its one RECV (the loop's record of it, reused), armed, paused, starved or ended. */
class Receiver implements StreamReceiver, Operation {
  /** The armed RECV's tag. */
  userData = 0
  /** The armed RECV was asked to stop (its -ECANCELED is expected). */
  cancelled = false
  /** A RECV is in the kernel (its last completion not yet in). */
  private armed = false
  private paused = false
  /** Waiting in the set's line for a buffer. */
  private starved = false
  /** The stream ended (the peer closed, or an error): it is never re-armed. */
  private ended = false
  private readonly closer = new Closing(() => this.set.closed(this))
  private readonly flush: BatchFlush
  // Made once: re-arming writes the same submission again.
  private readonly submission: { -readonly [K in keyof Submission]: Submission[K] }

  constructor(private readonly set: SharedSlots, fd: number, private readonly sink: StreamSink) {
    this.flush = new BatchFlush(set.loop, () => sink.flush())
    this.submission = {
      opcode: Opcode.RECV,
      fd,
      userData: 0,
      // The kernel takes address and length from the buffer it picks; a multishot RECV wants len 0.
      addr: 0,
      len: 0,
      opFlags: 0,
      ioprio: IORING_RECV_MULTISHOT,
      sqeFlags: IOSQE_BUFFER_SELECT,
      bufGroup: set.buffers.bgid,
      optlen: 0
    }
  }

  /** Arms the RECV if the stream wants bytes and has none armed; with no buffer left, starves instead. */
  want(): void {
    if (this.armed || this.starved || this.paused || this.ended || this.closer.closing) return
    // Issued on an empty ring, the RECV would end at once with -ENOBUFS.
    if (this.set.buffers.inKernel === 0) {
      this.starved = true
      this.set.starve(this)
      return
    }
    const { loop } = this.set
    const entry = loop.take()
    const submission = this.submission
    this.userData = submission.userData = loop.userData(entry)
    this.cancelled = false
    this.armed = true
    const bounded = this.set.bounded
    submission.ioprio = bounded ? IORING_RECV_MULTISHOT : 0
    submission.optlen = bounded ? this.set.budget : 0
    loop.submitRecord(entry, this, submission)
  }

  /** A buffer came back: try again. */
  unstarve(): void {
    this.starved = false
    this.want()
  }

  private cancel(): void {
    if (this.armed) this.set.loop.cancel(this)
  }

  complete(result: number, flags: number): void {
    const more = (flags & IORING_CQE_F_MORE) !== 0
    if (!more) this.armed = false
    const slot = this.set.buffers.taken(flags)
    if (this.closer.closing || this.ended) {
      // Nobody wants this stream's bytes any more: the slot goes to the other streams.
      if (slot >= 0) this.set.giveBack(slot)
      if (!more && this.closer.closing) this.closer.finish()
      return
    }
    if (result > 0 && slot >= 0) {
      // May pause this receiver (the core's backpressure) before it returns.
      this.sink.deliver(slot, result)
      this.flush.queue()
    } else {
      // The end of the stream, or a failed receive: a buffer it carries holds nothing.
      if (slot >= 0) this.set.giveBack(slot)
      if (result === 0) {
        this.end(undefined)
      } else if (result < 0) {
        const errno = -result
        if (errno === Libc.Errno.EINVAL && this.submission.optlen !== 0) {
          // A kernel before 6.17 refuses the limit: from now on each RECV of the set takes one chunk.
          this.set.bounded = false
        } else if (errno !== Libc.Errno.ENOBUFS && !(errno === Libc.Errno.ECANCELED && this.cancelled)) {
          // ENOBUFS: the shared ring ran empty and the bytes wait in the socket (`want` starves).
          this.end(Errors.fromErrno(errno, Errors.streamRingOperation))
        }
      }
    }
    if (!more) this.want()
  }

  private end(error: NetDriverError | undefined): void {
    this.ended = true
    this.sink.end(error)
    this.flush.queue()
  }

  readonly pause = (): void => {
    if (this.paused) return
    this.paused = true
    if (this.starved) this.leaveLine()
    else this.cancel()
  }

  readonly resume = (): void => {
    if (!this.paused) return
    this.paused = false
    // With a cancel still in flight, its last completion re-arms.
    this.want()
  }

  readonly close = (done: () => void): void => {
    if (!this.closer.begin(done)) return
    if (this.starved) this.leaveLine()
    if (this.armed) this.cancel()
    else this.closer.finish()
  }

  private leaveLine(): void {
    this.starved = false
    this.set.leaveLine(this)
  }

  /** The io_uring is gone: the kernel dropped the RECV, so nothing more arrives. */
  abandon(): void {
    const closing = this.closer.closing
    if (!this.closer.abandon()) return
    this.armed = false
    if (!this.ended && !closing) {
      this.ended = true
      this.sink.end(Errors.closed(Errors.streamRingOperation))
      // The loop is shut down: no batch will flush it.
      this.sink.flush()
    }
    this.closer.finish()
  }
}
