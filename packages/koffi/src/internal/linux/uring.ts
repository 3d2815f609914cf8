/**
 * io_uring's registered-buffer table: a ring that owns a sparse table, with a per-slot update
 * that registers or clears one buffer. The same ring carries the network operations that use
 * the table (see `ring.ts`, which maps its submission and completion queues and runs them).
 *
 * Layouts and constants are from `linux/io_uring.h` and io_uring_register(2).
 */
import koffi from "koffi"
import type { Libc } from "./libc.js"

/** Drops the whole table, releasing every buffer's pinned pages before it returns. */
export const IORING_UNREGISTER_BUFFERS = 1
/** Registers a table described by `struct io_uring_rsrc_register`; `nr_args` is the struct's size. */
export const IORING_REGISTER_BUFFERS2 = 15
/** Updates slots from `struct io_uring_rsrc_update2`; `nr_args` is the struct's size; returns the count updated. */
export const IORING_REGISTER_BUFFERS_UPDATE = 16
/** `io_uring_rsrc_register.flags`: create `nr` empty slots (`data` must be 0). Linux 5.19+. */
export const IORING_RSRC_REGISTER_SPARSE = 1
/** The kernel's cap on a buffer table (`IORING_MAX_REG_BUFFERS`); more is EINVAL. */
export const IORING_MAX_REG_BUFFERS = 16384
/** The kernel refuses one buffer above 1 GiB (`SZ_1G` in io_uring/rsrc.c), with EFAULT. */
export const MAX_BUFFER_LENGTH = 1024 * 1024 * 1024

export const IoSqringOffsets = koffi.struct({
  head: "uint32",
  tail: "uint32",
  ring_mask: "uint32",
  ring_entries: "uint32",
  flags: "uint32",
  dropped: "uint32",
  array: "uint32",
  resv1: "uint32",
  resv2: "uint64"
})

export const IoCqringOffsets = koffi.struct({
  head: "uint32",
  tail: "uint32",
  ring_mask: "uint32",
  ring_entries: "uint32",
  overflow: "uint32",
  cqes: "uint32",
  flags: "uint32",
  resv1: "uint32",
  resv2: "uint64"
})

/** 120 bytes; io_uring_setup(2) reads `flags` etc. and writes back the ring geometry. */
export const IoUringParams = koffi.struct({
  sq_entries: "uint32",
  cq_entries: "uint32",
  flags: "uint32",
  sq_thread_cpu: "uint32",
  sq_thread_idle: "uint32",
  features: "uint32",
  wq_fd: "uint32",
  resv: koffi.array("uint32", 3),
  sq_off: IoSqringOffsets,
  cq_off: IoCqringOffsets
})

/** 32 bytes. The man page names the second field `resv`; the header calls it `flags`. */
export const IoUringRsrcRegister = koffi.struct({
  nr: "uint32",
  flags: "uint32",
  resv2: "uint64",
  data: "uint64",
  tags: "uint64"
})

/** 32 bytes. */
export const IoUringRsrcUpdate2 = koffi.struct({
  offset: "uint32",
  resv: "uint32",
  data: "uint64",
  tags: "uint64",
  nr: "uint32",
  resv2: "uint32"
})

/** 16 bytes on LP64; the only ABI this backend supports (a 32-bit process would need compat_iovec). */
export const Iovec = koffi.struct({
  base: "uint64",
  len: "uint64"
})

const UPDATE_SIZE = koffi.sizeof(IoUringRsrcUpdate2)
const REGISTER_SIZE = koffi.sizeof(IoUringRsrcRegister)
const UPDATE_OFFSET = koffi.offsetof(IoUringRsrcUpdate2, "offset")
const UPDATE_DATA = koffi.offsetof(IoUringRsrcUpdate2, "data")
const UPDATE_NR = koffi.offsetof(IoUringRsrcUpdate2, "nr")
// The iovec sits right after the update struct in one scratch block, so both are written
// with one DataView and the update's `data` pointer is fixed once.
const IOVEC_AT = UPDATE_SIZE
const IOVEC_BASE = IOVEC_AT + koffi.offsetof(Iovec, "base")
const IOVEC_LEN = IOVEC_AT + koffi.offsetof(Iovec, "len")

/** `io_uring_params.flags`: `cq_entries` sizes the completion queue. */
export const IORING_SETUP_CQSIZE = 1 << 3
/** Only one task submits: the one that created the ring (Linux 6.0+). */
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12
/**
 * Completion work waits until the submitter asks for events, instead of interrupting it;
 * with a registered eventfd the submitter learns when to ask (Linux 6.1+, needs SINGLE_ISSUER).
 */
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13
/** The kernel says in the SQ ring's flags when deferred completion work waits (IORING_SQ_TASKRUN). */
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9
/** `sq_flags`: deferred completion work waits to be run by an `io_uring_enter(GETEVENTS)`. */
export const IORING_SQ_TASKRUN = 1 << 2
/** Signals a registered eventfd when completions are posted or deferred work is queued. */
export const IORING_REGISTER_EVENTFD = 4

/** `io_uring_params.features`: the SQ and CQ rings share one mapping. */
export const IORING_FEAT_SINGLE_MMAP = 1 << 0
/** `io_uring_params.features`: a full completion queue never drops a completion (Linux 5.5+). */
export const IORING_FEAT_NODROP = 1 << 1

/** The geometry `io_uring_setup` wrote back: what `queues.ts` needs to map the rings. */
export interface Geometry {
  readonly sqEntries: number
  readonly cqEntries: number
  readonly features: number
  /** `io_uring_params` as the kernel left it, for the ring offsets. */
  readonly params: DataView
}

/** Why opening a ring failed: the step and its errno. */
export interface RingFailure {
  readonly _tag: "RingFailure"
  readonly stage: "io_uring_setup" | "IORING_REGISTER_BUFFERS2"
  readonly errno: number
}

/**
 * One io_uring instance with a sparse registered-buffer table of `slots` entries.
 *
 * The update path writes into a preallocated scratch block and passes its address as a
 * BigInt, so a register or deregister allocates nothing and Koffi marshals no objects
 * (marshalling a struct object per call measured about 1.5 µs more per pair).
 */
export class Ring {
  private open = true
  // A `new ArrayBuffer` backing store lives outside V8's moving heap, so its address is
  // stable for as long as the buffer is referenced (it is, by this ring).
  private readonly scratch = new ArrayBuffer(UPDATE_SIZE + koffi.sizeof(Iovec))
  private readonly view = new DataView(this.scratch)
  private readonly scratchAddress: bigint = koffi.address(this.scratch)

  private constructor(
    private readonly libc: Libc,
    readonly fd: number,
    readonly slots: number,
    readonly geometry: Geometry,
    /** The setup flags the ring was created with. */
    readonly flags: number
  ) {
    this.view.setBigUint64(UPDATE_DATA, this.scratchAddress + BigInt(IOVEC_AT), true)
    this.view.setUint32(UPDATE_NR, 1, true)
  }

  /**
   * Creates the ring (`entries` submission slots, `cqEntries` completion slots when given)
   * and its sparse table; on a table failure the ring fd is closed again.
   */
  static open(libc: Libc, slots: number, entries = 1, cqEntries?: number, flags = 0): Ring | RingFailure {
    const params = new Uint8Array(koffi.sizeof(IoUringParams))
    const paramsView = new DataView(params.buffer)
    paramsView.setUint32(
      koffi.offsetof(IoUringParams, "flags"),
      flags | (cqEntries === undefined ? 0 : IORING_SETUP_CQSIZE),
      true
    )
    if (cqEntries !== undefined) paramsView.setUint32(koffi.offsetof(IoUringParams, "cq_entries"), cqEntries, true)
    const fd = libc.ioUringSetup(entries, params)
    if (fd < 0) return { _tag: "RingFailure", stage: "io_uring_setup", errno: libc.errno() }
    const geometry: Geometry = {
      sqEntries: paramsView.getUint32(koffi.offsetof(IoUringParams, "sq_entries"), true),
      cqEntries: paramsView.getUint32(koffi.offsetof(IoUringParams, "cq_entries"), true),
      features: paramsView.getUint32(koffi.offsetof(IoUringParams, "features"), true),
      params: paramsView
    }
    const register = new DataView(new ArrayBuffer(REGISTER_SIZE))
    register.setUint32(koffi.offsetof(IoUringRsrcRegister, "nr"), slots, true)
    register.setUint32(koffi.offsetof(IoUringRsrcRegister, "flags"), IORING_RSRC_REGISTER_SPARSE, true)
    const result = libc.ioUringRegister(
      fd,
      IORING_REGISTER_BUFFERS2,
      new Uint8Array(register.buffer),
      REGISTER_SIZE
    )
    if (result < 0) {
      const errno = libc.errno()
      libc.close(fd)
      return { _tag: "RingFailure", stage: "IORING_REGISTER_BUFFERS2", errno }
    }
    return new Ring(libc, fd, slots, geometry, flags)
  }

  get isOpen(): boolean {
    return this.open
  }

  /**
   * Points `slot` at `[address, address + length)`, or clears it when both are zero (the
   * documented way to empty a slot: an iovec with base 0 and length 0). Returns 0 or the errno.
   */
  update(slot: number, address: bigint, length: number): number {
    // Never touch a closed fd: its number may already belong to another file, even another ring.
    if (!this.open) return 9 // EBADF
    const view = this.view
    view.setUint32(UPDATE_OFFSET, slot, true)
    view.setBigUint64(IOVEC_BASE, address, true)
    view.setUint32(IOVEC_LEN, length >>> 0, true)
    view.setUint32(IOVEC_LEN + 4, Math.floor(length / 0x1_0000_0000), true)
    const result = this.libc.ioUringRegister(this.fd, IORING_REGISTER_BUFFERS_UPDATE, this.scratchAddress, UPDATE_SIZE)
    if (result === 1) return 0
    if (result < 0) return this.libc.errno() || 5
    return 5 // EIO: the kernel updated no slot yet reported no error
  }

  /**
   * Releases every registration synchronously, then closes the fd. Closing alone would also
   * release them, but from a kernel worker some milliseconds later; unregistering first makes
   * the pinned pages (VmPin) and the RLIMIT_MEMLOCK charge drop before the scope finishes.
   */
  close(): void {
    if (!this.open) return
    this.open = false
    this.libc.ioUringRegister(this.fd, IORING_UNREGISTER_BUFFERS, null, 0)
    this.libc.close(this.fd)
  }
}
