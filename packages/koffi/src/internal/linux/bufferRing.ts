/**
 * Provided-buffer rings (IORING_REGISTER_PBUF_RING): their layout, their mapping and
 * registration, and the probe that says whether this kernel runs multishot receives into them.
 * Layouts are from `linux/io_uring.h`.
 *
 * A ring's buffers are exactly a registration's slots (buffer id = slot), so a completion
 * names the slot the kernel filled, and a slot goes back to the kernel by writing one ring
 * entry and moving the tail. The UDP receive rings (`receiveRings.ts`) and the TCP stream
 * slots (`streamRings.ts`) both run on `ProvidedBuffers`.
 *
 * @internal
 */
import type { NetDriverError, Region } from "@effect-rio/core/Driver"
import { IdAllocator } from "@effect-rio/core/IdAllocator"
import koffi from "koffi"
import { setU64 } from "../native.js"
import * as Errors from "./errors.js"
import * as Libc from "./libc.js"
import { IORING_CQE_BUFFER_SHIFT, IORING_CQE_F_BUFFER, Opcode } from "./queues.js"
import type { Ring } from "./uring.js"

export const IORING_REGISTER_PROBE = 8
export const IORING_REGISTER_PBUF_RING = 22
export const IORING_UNREGISTER_PBUF_RING = 23
/** `sqe.ioprio` of RECV/RECVMSG: stay armed and post a completion per message (Linux 6.0+). */
export const IORING_RECV_MULTISHOT = 1 << 1
/** `io_uring_probe_op.flags`: the opcode is supported. */
const IO_URING_OP_SUPPORTED = 1
/** SEND_ZC came with multishot RECV/RECVMSG (Linux 6.0): the probe's marker for them. */
const OP_SEND_ZC = 47

/** `struct io_uring_buf_reg`: ring_addr u64, ring_entries u32, bgid u16, pad u16, resv u64[3]. */
export const BUF_REG_BYTES = 40
/** `struct io_uring_probe` (16 bytes) and 256 `io_uring_probe_op` of 8 bytes. */
const PROBE_OPS = 256
const PROBE_BYTES = 16 + PROBE_OPS * 8
/** `struct io_uring_buf`: addr u64, len u32, bid u16, resv u16 (entry 0's `resv` is the ring's tail). */
export const BUF_BYTES = 16
/** The tail: the u16 at byte 14 of the ring. */
export const TAIL_HALF = 7
/** The kernel's limit on one provided-buffer ring's entries (2^15). */
export const MAX_ENTRIES = 1 << 15
/** Buffer-group ids are u16. */
export const GROUPS = 1 << 16
export const nextPowerOfTwo = (n: number): number => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)))

/** A zeroed page-multiple mapping for a buffer ring; the errno when mmap fails. */
export const mapRing = (libc: Libc.Libc, length: number): bigint | number => {
  const address = libc.mmap(length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS)
  return address === Libc.MAP_FAILED ? libc.errno() || Libc.Errno.ENOMEM : address
}

/** Fills `registration` (an io_uring_buf_reg) for the buffer ring at `address`. */
export const describe = (registration: DataView, address: bigint, entries: number, bgid: number): void => {
  registration.setBigUint64(0, address, true)
  registration.setUint32(8, entries, true)
  registration.setUint16(12, bgid, true)
  registration.setUint16(14, 0, true)
}

/**
 * Whether this kernel runs multishot RECV and RECVMSG into provided-buffer rings: both opcodes
 * and SEND_ZC (which came in the same release as the multishot receives, 6.0) in the opcode
 * probe, and a one-entry buffer ring that registers and unregisters.
 */
export const supported = (libc: Libc.Libc, ring: Ring, pageSize: number): boolean => {
  const probe = new Uint8Array(PROBE_BYTES)
  if (libc.ioUringRegister(ring.fd, IORING_REGISTER_PROBE, probe, PROBE_OPS) < 0) return false
  const lastOp = probe[0]!
  const opsLength = probe[1]!
  const has = (op: number) => op <= lastOp && op < opsLength && (probe[16 + op * 8 + 2]! & IO_URING_OP_SUPPORTED) !== 0
  if (!has(Opcode.RECVMSG) || !has(Opcode.RECV) || !has(OP_SEND_ZC)) return false
  const address = mapRing(libc, pageSize)
  if (typeof address === "number") return false
  const registration = new DataView(new ArrayBuffer(BUF_REG_BYTES))
  // The highest group id: `BufferGroups` hands out the lowest ones first.
  describe(registration, address, 1, GROUPS - 1)
  const bytes = new Uint8Array(registration.buffer)
  const ok = libc.ioUringRegister(ring.fd, IORING_REGISTER_PBUF_RING, bytes, 1) === 0
  if (ok) libc.ioUringRegister(ring.fd, IORING_UNREGISTER_PBUF_RING, bytes, 1)
  libc.munmap(address, pageSize)
  return ok
}

/** What receives into a buffer ring: it must let go of it when the io_uring is gone. */
export interface BufferRingOwner {
  /** The layer's teardown closed the io_uring (and with it the requests): release the buffers, end the sinks. */
  readonly abandon: () => void
}

/**
 * The provided-buffer rings of one io_uring: the group ids they share, how one is set up, and
 * the rings still open when the layer's teardown comes.
 */
export class BufferGroups {
  // One group id is kept back for `supported`'s probe ring.
  private readonly ids = new IdAllocator(GROUPS - 1)
  private readonly registration = new DataView(new ArrayBuffer(BUF_REG_BYTES))
  private readonly registrationBytes = new Uint8Array(this.registration.buffer)
  private readonly live = new Map<ProvidedBuffers, BufferRingOwner>()

  constructor(private readonly libc: Libc.Libc, private readonly ring: Ring, private readonly pageSize: number) {}

  /**
   * A registered buffer ring over `memory` cut into `slots` slots of `slotBytes`, every slot
   * already the kernel's, and what `own` makes of it; errors name `operation`.
   */
  open<A extends BufferRingOwner>(
    memory: Region,
    slotBytes: number,
    slots: number,
    operation: string,
    own: (buffers: ProvidedBuffers) => A
  ): A | NetDriverError {
    const { libc, ring } = this
    const entries = nextPowerOfTwo(slots)
    // A closed ring's fd number may already belong to another file: never pass it on.
    if (!ring.isOpen || entries > MAX_ENTRIES) {
      const errno = ring.isOpen ? Libc.Errno.EINVAL : Libc.Errno.EBADF
      return Errors.bufferRingFailed(libc, operation, "IORING_REGISTER_PBUF_RING", errno, entries)
    }
    const bgid = this.ids.take()
    if (bgid < 0) return Errors.noBufferGroup(operation, this.ids.capacity)
    const length = Math.ceil((entries * BUF_BYTES) / this.pageSize) * this.pageSize
    const address = mapRing(libc, length)
    if (typeof address === "number") {
      this.ids.release(bgid)
      return Errors.bufferRingFailed(libc, operation, "mmap", address, entries)
    }
    describe(this.registration, address, entries, bgid)
    if (libc.ioUringRegister(ring.fd, IORING_REGISTER_PBUF_RING, this.registrationBytes, 1) < 0) {
      const errno = libc.errno() || Libc.Errno.EINVAL
      libc.munmap(address, length)
      this.ids.release(bgid)
      return Errors.bufferRingFailed(libc, operation, "IORING_REGISTER_PBUF_RING", errno, entries)
    }
    const buffers = new ProvidedBuffers(this, memory, slotBytes, bgid, entries, address, length)
    for (let slot = 0; slot < slots; slot++) buffers.give(slot)
    const owner = own(buffers)
    this.live.set(buffers, owner)
    return owner
  }

  /** For the layer's teardown, after the io_uring is closed: every open ring's owner lets go of it. */
  shutdown(): void {
    for (const owner of this.live.values()) owner.abandon()
    this.live.clear()
  }

  /** Unregisters (while the io_uring is open: after, the kernel already dropped it) and unmaps a ring. */
  release(buffers: ProvidedBuffers, bgid: number, address: bigint, length: number): void {
    this.live.delete(buffers)
    if (this.ring.isOpen) {
      describe(this.registration, address, 0, bgid)
      this.libc.ioUringRegister(this.ring.fd, IORING_UNREGISTER_PBUF_RING, this.registrationBytes, 1)
    }
    this.libc.munmap(address, length)
    this.ids.release(bgid)
  }
}

/** One registered buffer ring whose buffer `bid` is slot `bid` of a registration. */
export class ProvidedBuffers {
  /** Buffers the kernel holds: given and not yet reported in a completion. */
  inKernel = 0
  /** The ring's entries as 32-bit words (addr, len) and 16-bit halves (bid, and the tail). */
  private readonly words: Uint32Array
  private readonly halves: Uint16Array
  private readonly mask: number
  private tail = 0
  private released = false

  constructor(
    private readonly groups: BufferGroups,
    private readonly memory: Region,
    readonly slotBytes: number,
    readonly bgid: number,
    entries: number,
    private readonly address: bigint,
    private readonly length: number
  ) {
    const ring = koffi.view(address, length)
    this.words = new Uint32Array(ring)
    this.halves = new Uint16Array(ring)
    this.mask = entries - 1
  }

  /** Gives `slot` to the kernel. A no-op once released: the ring's memory is gone then. */
  give(slot: number): void {
    if (this.released) return
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

  /** The slot a completion with `flags` carries (no longer the kernel's), or -1. */
  taken(flags: number): number {
    if ((flags & IORING_CQE_F_BUFFER) === 0) return -1
    this.inKernel--
    return flags >>> IORING_CQE_BUFFER_SHIFT
  }

  /** Unregisters and unmaps the ring and frees its group id, once; call only when no request uses it. */
  release(): void {
    if (this.released) return
    this.released = true
    this.groups.release(this, this.bgid, this.address, this.length)
  }
}
