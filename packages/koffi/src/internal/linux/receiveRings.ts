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
import type {
  NetDriverError,
  NetSocket,
  Pending,
  ReceiveRing,
  ReceiveRings,
  Region,
  RingSink
} from "@effect-rio/core/Driver"
import { IdAllocator } from "@effect-rio/core/Driver"
import koffi from "koffi"
import { setU64 } from "../native.js"
import type * as Sockaddr from "../sockaddr.js"
import {
  BUF_BYTES,
  BUF_REG_BYTES,
  describe,
  GROUPS,
  IORING_RECV_MULTISHOT,
  IORING_REGISTER_PBUF_RING,
  IORING_UNREGISTER_PBUF_RING,
  mapRing,
  MAX_ENTRIES,
  nextPowerOfTwo,
  TAIL_HALF
} from "./bufferRing.js"
import * as Errors from "./errors.js"
import * as Libc from "./libc.js"
import type { Submission } from "./queues.js"
import {
  IORING_CQE_BUFFER_SHIFT,
  IORING_CQE_F_BUFFER,
  IORING_CQE_F_MORE,
  IOSQE_BUFFER_SELECT,
  Opcode
} from "./queues.js"
import type { RingLoop } from "./ring.js"
import type { Ring } from "./uring.js"

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

/** The receive rings of one io_uring, and what the driver's teardown must do for them. */
export interface Rings extends ReceiveRings {
  /** For the layer's teardown, after the ring is closed: frees what open rings still hold. */
  readonly shutdown: () => void
}

/** The receive rings of `ring`, run by `loop`; senders decoded through `addresses`. */
export const make = (
  libc: Libc.Libc,
  ring: Ring,
  loop: RingLoop,
  addresses: Sockaddr.Cache,
  pageSize: number
): Rings => {
  // One group id is kept back for `supported`'s probe ring.
  const groups = new IdAllocator(GROUPS - 1)
  const live = new Set<MultishotRing>()
  const registration = new DataView(new ArrayBuffer(BUF_REG_BYTES))
  const registrationBytes = new Uint8Array(registration.buffer)

  /** Unregisters and unmaps a buffer ring, and frees its group id. */
  const release = (bgid: number, address: bigint, length: number): void => {
    if (ring.isOpen) {
      describe(registration, address, 0, bgid)
      libc.ioUringRegister(ring.fd, IORING_UNREGISTER_PBUF_RING, registrationBytes, 1)
    }
    libc.munmap(address, length)
    groups.release(bgid)
  }

  const open = (
    socket: NetSocket,
    memory: Region,
    slotBytes: number,
    slots: number,
    sink: RingSink
  ): ReceiveRing | NetDriverError => {
    const entries = nextPowerOfTwo(slots)
    // A closed ring's fd number may already belong to another file: never pass it on.
    if (!ring.isOpen || entries > MAX_ENTRIES) {
      const errno = ring.isOpen ? Libc.Errno.EINVAL : Libc.Errno.EBADF
      return Errors.bufferRingFailed(libc, "IORING_REGISTER_PBUF_RING", errno, entries)
    }
    const bgid = groups.take()
    if (bgid < 0) return Errors.noBufferGroup(groups.capacity)
    const length = Math.ceil((entries * BUF_BYTES) / pageSize) * pageSize
    const address = mapRing(libc, length)
    if (typeof address === "number") {
      groups.release(bgid)
      return Errors.bufferRingFailed(libc, "mmap", address, entries)
    }
    describe(registration, address, entries, bgid)
    if (libc.ioUringRegister(ring.fd, IORING_REGISTER_PBUF_RING, registrationBytes, 1) < 0) {
      const errno = libc.errno() || Libc.Errno.EINVAL
      libc.munmap(address, length)
      groups.release(bgid)
      return Errors.bufferRingFailed(libc, "IORING_REGISTER_PBUF_RING", errno, entries)
    }
    const opened = new MultishotRing(
      loop,
      addresses,
      socket.handle,
      memory,
      slotBytes,
      sink,
      bgid,
      entries,
      new Uint8Array(koffi.view(address, length)),
      (self) => {
        live.delete(self)
        release(bgid, address, length)
      },
      () => libc.munmap(address, length)
    )
    live.add(opened)
    for (let slot = 0; slot < slots; slot++) opened.recycle(slot)
    return opened
  }

  return {
    headerBytes: HEADER_BYTES,
    open,
    shutdown: () => {
      // The ring is closed: the kernel dropped the requests and the buffer rings with it.
      for (const opened of live) opened.abandon()
      live.clear()
    }
  }
}

/** One socket's receive ring: a provided-buffer ring over its slots and one multishot RECVMSG. */
class MultishotRing implements ReceiveRing {
  readonly mechanism = MECHANISM
  /** The buffer ring's entries as 32-bit words (addr, len) and 16-bit halves (bid, and the tail). */
  private readonly words: Uint32Array
  private readonly halves: Uint16Array
  private readonly mask: number
  private tail = 0
  /** The slots' headers, read in place. */
  private readonly view: DataView
  /** Buffers the kernel holds: added to the ring and not yet reported in a completion. */
  private inKernel = 0
  private armed = false
  private request: Pending | undefined = undefined
  private closing = false
  private finished = false
  private closed: (() => void) | undefined = undefined
  private flushQueued = false
  // Made once: re-arming writes the same submission again.
  private readonly submission: { -readonly [K in keyof Submission]: Submission[K] }

  constructor(
    private readonly loop: RingLoop,
    private readonly addresses: Sockaddr.Cache,
    fd: number,
    private readonly memory: Region,
    private readonly slotBytes: number,
    private readonly sink: RingSink,
    bgid: number,
    entries: number,
    ring: Uint8Array,
    private readonly release: (self: MultishotRing) => void,
    private readonly unmap: () => void
  ) {
    this.words = new Uint32Array(ring.buffer, ring.byteOffset, ring.byteLength / 4)
    this.halves = new Uint16Array(ring.buffer, ring.byteOffset, ring.byteLength / 2)
    this.mask = entries - 1
    const bytes = memory.memory
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
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
      bufGroup: bgid
    }
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

  private readonly flush = (): void => {
    this.flushQueued = false
    this.sink.flush()
  }

  private queueFlush(): void {
    if (this.flushQueued) return
    this.flushQueued = true
    this.loop.afterDrain(this.flush)
  }

  private readonly completed = (result: number, _entry: number, flags: number): void => {
    const more = (flags & IORING_CQE_F_MORE) !== 0
    if (!more) {
      this.armed = false
      this.request = undefined
    }
    const slot = (flags & IORING_CQE_F_BUFFER) !== 0 ? flags >>> IORING_CQE_BUFFER_SHIFT : -1
    if (slot >= 0) this.inKernel--
    if (this.closing) {
      // The caller is gone: what arrived meanwhile is dropped with the ring.
      if (!more) this.finish()
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
        this.queueFlush()
      }
      // A buffer taken by a receive that failed holds nothing: straight back to the kernel.
      if (slot >= 0) this.give(slot)
    }
    // Without a buffer in the kernel (or after an error of the request itself) the next
    // recycle re-arms.
    // (A sink may have recycled a slot, and so re-armed, already.)
    if (!more && !this.armed && rearm && this.inKernel > 0) this.arm()
  }

  /** Reports the datagram in `slot`: the kernel wrote `result` bytes there, header included. */
  private received(slot: number, result: number): void {
    const at = this.memory.offset + slot * this.slotBytes
    const view = this.view
    const payloadLength = view.getUint32(at + 8, true)
    const messageFlags = view.getUint32(at + 12, true)
    const sender = this.addresses.decode(view, at + RECVMSG_OUT_BYTES)
    if ((messageFlags & MSG_TRUNC) !== 0) {
      this.sink.fail(slot, Errors.datagramTooLarge(sender, payloadLength, this.slotBytes - HEADER_BYTES))
    } else {
      this.sink.deliver(slot, HEADER_BYTES, Math.min(payloadLength, result - HEADER_BYTES), sender)
    }
    this.queueFlush()
  }

  readonly recycle = (slot: number): void => {
    if (this.closing) return
    this.give(slot)
    if (!this.armed) this.arm()
  }

  /** Adds `slot` to the buffer ring. */
  private give(slot: number): void {
    const index = this.tail & this.mask
    const w = index * (BUF_BYTES / 4)
    setU64(this.words, w, this.memory.base + this.memory.offset + slot * this.slotBytes)
    this.words[w + 2] = this.slotBytes
    // bid is a u16: a 32-bit store here would overwrite entry 0's last field, the tail.
    this.halves[w * 2 + 6] = slot
    this.tail = (this.tail + 1) & 0xffff
    // Published before the next enter, with a full fence after the entry's stores.
    Atomics.store(this.halves, TAIL_HALF, this.tail)
    this.inKernel++
  }

  readonly close = (done: () => void): void => {
    if (this.finished) return done()
    this.closed = done
    if (this.closing) return
    this.closing = true
    if (this.armed) this.request!.cancel()
    else this.finish()
  }

  /** The request has ended: the buffer ring goes, then the caller hears of it. */
  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.release(this)
    const done = this.closed
    this.closed = undefined
    done?.()
  }

  /** The io_uring is gone (the layer shut down): unmap, and let a waiting close finish. */
  abandon(): void {
    if (this.finished) return
    this.finished = true
    this.closing = true
    this.unmap()
    this.sink.end(Errors.closed(Errors.receiveRingOperation))
    const done = this.closed
    this.closed = undefined
    done?.()
  }
}
