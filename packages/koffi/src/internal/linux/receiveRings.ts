/**
 * UDP receive rings on io_uring: the kernel fills the core's ring slots from one multishot
 * RECVMSG per socket, taking each slot from a provided-buffer ring (IORING_REGISTER_PBUF_RING)
 * whose buffers are exactly those slots. One request, armed once, receives datagram after
 * datagram; a slot goes back to the kernel by writing one ring entry and moving the tail.
 *
 * - Each slot starts with what the kernel writes there itself: `io_uring_recvmsg_out` (16
 *   bytes), then the sender's address in a name area as long as the template msghdr's
 *   `msg_namelen` (32 here: room for a sockaddr_in6, and a 16-byte aligned payload), then the
 *   payload. So a slot of `headerBytes + slotSize` bytes holds a datagram of `slotSize`.
 * - Nothing is allocated per datagram: the header is read through one DataView, the sender
 *   through the driver's address cache (the same object for a known IPv4 peer), and the sink
 *   is flushed once per batch of completions (the loop's `afterDrain`).
 * - The multishot ends (no IORING_CQE_F_MORE) when the ring runs out of buffers (-ENOBUFS),
 *   on a socket error, or when the kernel cannot post a completion: it is re-armed at once if
 *   the kernel holds a buffer, else by the first `recycle`. Only one request receives at a
 *   time, so datagrams arrive in the socket's order and none is consumed without a completion.
 * - Closing cancels the request and waits for its last completion; only then is the buffer
 *   ring unregistered and unmapped, and the socket closed by the core.
 *
 * Layouts are from `linux/io_uring.h`.
 *
 * @internal
 */
import type { Pending, ReceiveRing, ReceiveRings, Region, RingSink } from "@effect-rio/core/Driver"
import type * as Sockaddr from "../sockaddr.js"
import type { BufferGroups, BufferRingOwner, ProvidedBuffers } from "./bufferRing.js"
import { IORING_RECV_MULTISHOT } from "./bufferRing.js"
import * as Errors from "./errors.js"
import * as Libc from "./libc.js"
import type { Submission } from "./queues.js"
import { IORING_CQE_F_MORE, IOSQE_BUFFER_SELECT, Opcode } from "./queues.js"
import type { RingLoop } from "./ring.js"
import { BatchFlush, Closing } from "./ringParts.js"

/** `struct io_uring_recvmsg_out`: namelen, controllen, payloadlen, flags (u32 each). */
const RECVMSG_OUT_BYTES = 16
/** The template's `msg_namelen`: the name area in each slot (a sockaddr_in6 is 28 bytes). */
const NAME_BYTES = 32
/** Where the payload starts in a slot. */
export const HEADER_BYTES = RECVMSG_OUT_BYTES + NAME_BYTES
const MSG_TRUNC = 0x20
/** `struct msghdr` on LP64: msg_namelen is the u32 at byte 8. */
const MSGHDR_BYTES = 56
const MSGHDR_NAMELEN = 8

const MECHANISM = "multishot RECVMSG into provided buffers"

/** errno values that say the request itself is wrong: re-arming at once would only repeat them. */
const requestErrors: ReadonlySet<number> = new Set([
  Libc.Errno.EINVAL,
  Libc.Errno.EBADF,
  Libc.Errno.EFAULT,
  Libc.Errno.ENOTSOCK,
  Libc.Errno.EOPNOTSUPP
])

/** The receive rings run by `loop`, over buffer rings from `groups`; senders decoded through `addresses`. */
export const make = (loop: RingLoop, groups: BufferGroups, addresses: Sockaddr.Cache): ReceiveRings => ({
  headerBytes: HEADER_BYTES,
  open: (socket, memory, slotBytes, slots, sink) =>
    groups.open(
      memory,
      slotBytes,
      slots,
      Errors.receiveRingOperation,
      (buffers) => new MultishotRing(loop, addresses, socket.handle, memory, buffers, sink)
    )
})

/** One socket's receive ring: a provided-buffer ring over its slots and one multishot RECVMSG. */
class MultishotRing implements ReceiveRing, BufferRingOwner {
  readonly mechanism = MECHANISM
  /** The slots' headers, read in place. */
  private readonly view: DataView
  private armed = false
  private request: Pending | undefined = undefined
  // The request has ended: the buffer ring goes, then the caller hears of it.
  private readonly closer = new Closing(() => this.buffers.release())
  private readonly flush: BatchFlush
  // Made once: re-arming writes the same submission again.
  private readonly submission: { -readonly [K in keyof Submission]: Submission[K] }

  constructor(
    private readonly loop: RingLoop,
    private readonly addresses: Sockaddr.Cache,
    fd: number,
    private readonly memory: Region,
    private readonly buffers: ProvidedBuffers,
    private readonly sink: RingSink
  ) {
    const bytes = memory.memory
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.flush = new BatchFlush(loop, () => sink.flush())
    this.submission = {
      opcode: Opcode.RECVMSG,
      fd,
      userData: 0,
      addr: 0,
      len: 1,
      // The real length of a datagram that did not fit, in `payloadlen`.
      opFlags: MSG_TRUNC,
      ioprio: IORING_RECV_MULTISHOT,
      sqeFlags: IOSQE_BUFFER_SELECT,
      bufGroup: buffers.bgid
    }
    // Every slot is already the kernel's.
    this.arm()
  }

  /** Writes the template msghdr into the request's scratch: only the name area's length matters. */
  private readonly build = (entry: number, userData: number): Submission => {
    const { scratch } = this.loop
    const words = scratch.words(entry)
    const at = scratch.offset(entry) / 4
    words.fill(0, at, at + MSGHDR_BYTES / 4)
    words[at + MSGHDR_NAMELEN / 4] = NAME_BYTES
    const submission = this.submission
    submission.userData = userData
    submission.addr = scratch.address(entry)
    return submission
  }

  private arm(): void {
    this.armed = true
    this.request = this.loop.start(this.build, this.completed)
  }

  private readonly completed = (result: number, _entry: number, flags: number): void => {
    const more = (flags & IORING_CQE_F_MORE) !== 0
    if (!more) {
      this.armed = false
      this.request = undefined
    }
    const slot = this.buffers.taken(flags)
    if (this.closer.closing) {
      // The caller is gone: what arrived meanwhile is dropped with the ring.
      if (!more) this.closer.finish()
      return
    }
    let rearm = true
    if (result >= 0) {
      if (slot >= 0) this.received(slot, result)
    } else {
      const errno = -result
      // ENOBUFS: the ring ran empty and the datagram stays queued in the socket.
      if (errno !== Libc.Errno.ENOBUFS) {
        const error = Errors.fromErrno(errno, Errors.receiveRingOperation)
        // An error of the request itself (the socket is gone) would only repeat: the ring ends.
        rearm = !requestErrors.has(errno)
        if (rearm) this.sink.fail(-1, error)
        else this.sink.end(error)
        this.flush.queue()
      }
      // A buffer taken by a receive that failed holds nothing: straight back to the kernel.
      if (slot >= 0) this.buffers.give(slot)
    }
    // Without a buffer in the kernel (or after an error of the request itself) the next
    // recycle re-arms.
    // (A sink may have recycled a slot, and so re-armed, already.)
    if (!more && !this.armed && rearm && this.buffers.inKernel > 0) this.arm()
  }

  /** Reports the datagram in `slot`: the kernel wrote `result` bytes there, header included. */
  private received(slot: number, result: number): void {
    const slotBytes = this.buffers.slotBytes
    const at = this.memory.offset + slot * slotBytes
    const view = this.view
    const payloadLength = view.getUint32(at + 8, true)
    const messageFlags = view.getUint32(at + 12, true)
    const sender = this.addresses.decode(view, at + RECVMSG_OUT_BYTES)
    if ((messageFlags & MSG_TRUNC) !== 0) {
      this.sink.fail(slot, Errors.datagramTooLarge(sender, payloadLength, slotBytes - HEADER_BYTES))
    } else {
      this.sink.deliver(slot, HEADER_BYTES, Math.min(payloadLength, result - HEADER_BYTES), sender)
    }
    this.flush.queue()
  }

  readonly recycle = (slot: number): void => {
    if (this.closer.closing) return
    this.buffers.give(slot)
    if (!this.armed) this.arm()
  }

  readonly close = (done: () => void): void => {
    if (!this.closer.begin(done)) return
    if (this.armed) this.request!.cancel()
    else this.closer.finish()
  }

  /** The io_uring is gone (the layer shut down): unmap, and let a waiting close finish. */
  readonly abandon = (): void => {
    if (!this.closer.abandon()) return
    this.sink.end(Errors.closed(Errors.receiveRingOperation))
    this.closer.finish()
  }
}
