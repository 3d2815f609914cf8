/**
 * The submission and completion queues of an io_uring, mapped into this process and driven
 * from JS: submission entries are written in place, completions read in place, and the
 * kernel is entered once per batch. Layouts are from `linux/io_uring.h`.
 */
import koffi from "koffi"
import { setU64 } from "../native.js"
import * as Libc from "./libc.js"
import type { Ring } from "./uring.js"
import { IORING_FEAT_SINGLE_MMAP, IORING_SQ_TASKRUN, IoUringParams } from "./uring.js"

export const IORING_OFF_SQ_RING = 0
export const IORING_OFF_CQ_RING = 0x8000000
export const IORING_OFF_SQES = 0x10000000
export const IORING_ENTER_GETEVENTS = 1

export const Opcode = {
  NOP: 0,
  READ_FIXED: 4,
  WRITE_FIXED: 5,
  POLL_ADD: 6,
  SENDMSG: 9,
  RECVMSG: 10,
  ACCEPT: 13,
  ASYNC_CANCEL: 14,
  CONNECT: 16,
  SEND: 26,
  RECV: 27
} as const

const SQE_BYTES = 64
const SQE_WORDS = SQE_BYTES / 4
const CQE_WORDS = 4

/** What a submission carries; unset fields are zero. Addresses are numbers (they fit a double exactly). */
export interface Submission {
  readonly opcode: number
  readonly fd: number
  readonly userData: number
  readonly addr?: number
  readonly len?: number
  /** `off`, or `addr2` for ACCEPT (the address-length pointer). */
  readonly off?: number
  /** `rw_flags`, `msg_flags`, `accept_flags` or `cancel_flags`, by opcode. */
  readonly opFlags?: number
  readonly ioprio?: number
  readonly bufIndex?: number
  /** The SQE's `flags` byte (IOSQE_*), for example IOSQE_BUFFER_SELECT. */
  readonly sqeFlags?: number
  /** `buf_group`: the provided-buffer group to select from (shares `buf_index`'s u16 at byte 40). */
  readonly bufGroup?: number
  /**
   * The u32 at byte 44 (`optlen`, shared with `file_index`): for a multishot RECV, the bytes
   * after which it ends (Linux 6.17+; older kernels refuse a non-zero value with EINVAL).
   */
  readonly optlen?: number
}

/** `sqe.flags`: take the buffer from the provided-buffer group `buf_group` when the data arrives. */
export const IOSQE_BUFFER_SELECT = 1 << 5
/** `cqe.flags`: the upper 16 bits are the id of the provided buffer the operation used. */
export const IORING_CQE_F_BUFFER = 1 << 0
/** `cqe.flags`: the operation stays armed and will post more completions (multishot). */
export const IORING_CQE_F_MORE = 1 << 1
/** Where a completion's buffer id sits in `cqe.flags`. */
export const IORING_CQE_BUFFER_SHIFT = 16

/** The mapped queues of one ring. */
export class Queues {
  private readonly sq: Uint32Array
  private readonly sqHead: number
  private readonly sqTail: number
  private readonly sqMask: number
  private readonly sqArray: number
  private readonly sqFlags: number
  private readonly sqes: Uint32Array
  private readonly sqes8: Uint8Array
  private readonly sqes16: Uint16Array
  private readonly cq: Uint32Array
  private readonly cqHead: number
  private readonly cqTail: number
  private readonly cqMask: number
  private readonly cqes: number
  /** Our tail: entries written but not yet published to the kernel. */
  private tail: number
  private published: number
  readonly entries: number

  private constructor(
    private readonly libc: Libc.Libc,
    private readonly ring: Ring,
    private readonly mappings: ReadonlyArray<{ readonly address: bigint; readonly length: number }>,
    sqRing: ArrayBuffer,
    cqRing: ArrayBuffer,
    sqes: ArrayBuffer
  ) {
    const params = ring.geometry.params
    const sqOff = koffi.offsetof(IoUringParams, "sq_off")
    const cqOff = koffi.offsetof(IoUringParams, "cq_off")
    const word = (base: number, field: number) => params.getUint32(base + field, true) / 4
    this.sq = new Uint32Array(sqRing)
    this.sqHead = word(sqOff, 0)
    this.sqTail = word(sqOff, 4)
    this.sqMask = this.sq[word(sqOff, 8)]!
    this.entries = this.sq[word(sqOff, 12)]!
    this.sqArray = word(sqOff, 24)
    this.sqFlags = word(sqOff, 16)
    this.cq = new Uint32Array(cqRing)
    this.cqHead = word(cqOff, 0)
    this.cqTail = word(cqOff, 4)
    this.cqMask = this.cq[word(cqOff, 8)]!
    this.cqes = word(cqOff, 20)
    this.sqes = new Uint32Array(sqes)
    this.sqes8 = new Uint8Array(sqes)
    this.sqes16 = new Uint16Array(sqes)
    this.tail = Atomics.load(this.sq, this.sqTail)
    this.published = this.tail
  }

  /** Maps the rings of `ring`; the errno of the failed mmap otherwise. */
  static map(libc: Libc.Libc, ring: Ring): Queues | number {
    const { cqEntries, features, params, sqEntries } = ring.geometry
    const sqOff = koffi.offsetof(IoUringParams, "sq_off")
    const cqOff = koffi.offsetof(IoUringParams, "cq_off")
    let sqSize = params.getUint32(sqOff + 24, true) + sqEntries * 4
    let cqSize = params.getUint32(cqOff + 20, true) + cqEntries * CQE_WORDS * 4
    const single = (features & IORING_FEAT_SINGLE_MMAP) !== 0
    if (single) sqSize = cqSize = Math.max(sqSize, cqSize)
    const mappings: Array<{ address: bigint; length: number }> = []
    const map = (length: number, offset: number): bigint | number => {
      const address = libc.mmapFile(
        length,
        Libc.PROT_READ | Libc.PROT_WRITE,
        Libc.MAP_SHARED | Libc.MAP_POPULATE,
        ring.fd,
        offset
      )
      if (address === Libc.MAP_FAILED) return libc.errno() || 12
      mappings.push({ address, length })
      return address
    }
    const unmapAll = (errno: number) => {
      for (const { address, length } of mappings) libc.munmap(address, length)
      return errno
    }
    const sqAddress = map(sqSize, IORING_OFF_SQ_RING)
    if (typeof sqAddress === "number") return unmapAll(sqAddress)
    const cqAddress = single ? sqAddress : map(cqSize, IORING_OFF_CQ_RING)
    if (typeof cqAddress === "number") return unmapAll(cqAddress)
    const sqesAddress = map(sqEntries * SQE_BYTES, IORING_OFF_SQES)
    if (typeof sqesAddress === "number") return unmapAll(sqesAddress)
    return new Queues(
      libc,
      ring,
      mappings,
      koffi.view(sqAddress, sqSize),
      koffi.view(cqAddress, cqSize),
      koffi.view(sqesAddress, sqEntries * SQE_BYTES)
    )
  }

  /** Entries written and not yet handed to the kernel. */
  get unsubmitted(): number {
    return this.tail - this.published
  }

  /** Claims the next submission entry, zeroed, and queues it; its first word, or -1 when the queue is full. */
  private claim(): number {
    const head = Atomics.load(this.sq, this.sqHead)
    if (this.tail - head >= this.entries) return -1
    const index = this.tail & this.sqMask
    const w = index * SQE_WORDS
    this.sqes.fill(0, w, w + SQE_WORDS)
    this.sq[this.sqArray + index] = index
    this.tail = (this.tail + 1) >>> 0
    return w
  }

  /**
   * Writes one submission of the plain form most operations have (opcode, fd, addr, len,
   * flags, and `buf_index` for READ_FIXED / WRITE_FIXED), without a `Submission` object: the
   * hot path's form. False when the queue is full.
   */
  pushPlain(
    opcode: number,
    fd: number,
    addr: number,
    len: number,
    opFlags: number,
    userData: number,
    bufIndex: number
  ): boolean {
    const w = this.claim()
    if (w < 0) return false
    const sqes = this.sqes
    this.sqes8[w * 4] = opcode
    sqes[w + 1] = fd >>> 0
    setU64(sqes, w + 4, addr)
    sqes[w + 6] = len
    sqes[w + 7] = opFlags >>> 0
    sqes[w + 8] = userData >>> 0
    this.sqes16[(w + 10) * 2] = bufIndex
    return true
  }

  /** Writes one submission; false when the submission queue is full (submit, then retry). */
  push(entry: Submission): boolean {
    const w = this.claim()
    if (w < 0) return false
    const sqes = this.sqes
    this.sqes8[w * 4] = entry.opcode
    if (entry.sqeFlags !== undefined) this.sqes8[w * 4 + 1] = entry.sqeFlags
    if (entry.ioprio !== undefined) this.sqes16[w * 2 + 1] = entry.ioprio
    sqes[w + 1] = entry.fd >>> 0
    if (entry.off !== undefined) setU64(sqes, w + 2, entry.off)
    if (entry.addr !== undefined) setU64(sqes, w + 4, entry.addr)
    if (entry.len !== undefined) sqes[w + 6] = entry.len
    if (entry.opFlags !== undefined) sqes[w + 7] = entry.opFlags >>> 0
    sqes[w + 8] = entry.userData >>> 0
    if (entry.bufIndex !== undefined) this.sqes16[(w + 10) * 2] = entry.bufIndex
    if (entry.bufGroup !== undefined) this.sqes16[(w + 10) * 2] = entry.bufGroup
    if (entry.optlen !== undefined) sqes[w + 11] = entry.optlen >>> 0
    return true
  }

  /**
   * Publishes what was written and enters the kernel once; the count submitted, or -errno.
   * With `getEvents`, the same call also runs completion work the kernel deferred.
   */
  submit(getEvents = false): number {
    if (this.unsubmitted === 0 && !getEvents) return 0
    Atomics.store(this.sq, this.sqTail, this.tail)
    const count = this.tail - this.published
    const result = this.libc.ioUringEnter(this.ring.fd, count, 0, getEvents ? IORING_ENTER_GETEVENTS : 0)
    if (result < 0) return -(this.libc.errno() || 5)
    this.published = (this.published + result) >>> 0
    return result
  }

  /** Consumes every completion there is, oldest first, with each one's `flags`; the count. */
  drain(handle: (userData: number, result: number, flags: number) => void): number {
    const cq = this.cq
    let head = Atomics.load(cq, this.cqHead)
    const tail = Atomics.load(cq, this.cqTail)
    let count = 0
    while (head !== tail) {
      const w = this.cqes + (head & this.cqMask) * CQE_WORDS
      const userData = cq[w]!
      const result = cq[w + 2]! | 0
      const flags = cq[w + 3]!
      head = (head + 1) >>> 0
      // Published before the handler runs: a handler may submit and must not see this entry again.
      Atomics.store(cq, this.cqHead, head)
      handle(userData, result, flags)
      count++
    }
    return count
  }

  /**
   * Whether deferred completion work still waits: one `io_uring_enter(GETEVENTS)` runs only a
   * bounded batch of it, and the eventfd signals again only once the list was emptied.
   */
  get hasDeferredWork(): boolean {
    return (Atomics.load(this.sq, this.sqFlags) & IORING_SQ_TASKRUN) !== 0
  }

  /** Waits on a worker thread for at least one completion, then calls `woken`. */
  wait(woken: (result: number) => void): void {
    this.libc.ioUringEnterAsync(this.ring.fd, 0, 1, IORING_ENTER_GETEVENTS, woken)
  }

  /** Unmaps the queues; whoever mapped them calls it, once, after the last use. */
  unmap(): void {
    for (const { address, length } of this.mappings) this.libc.munmap(address, length)
  }
}
