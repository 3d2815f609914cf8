/**
 * Provided-buffer rings (IORING_REGISTER_PBUF_RING): their layout, their mapping and
 * registration, and the probe that says whether this kernel runs multishot RECVMSG into them.
 * Layouts are from `linux/io_uring.h`.
 *
 * @internal
 */
import * as Libc from "./libc.js"
import { Opcode } from "./queues.js"
import type { Ring } from "./uring.js"

export const IORING_REGISTER_PROBE = 8
export const IORING_REGISTER_PBUF_RING = 22
export const IORING_UNREGISTER_PBUF_RING = 23
/** `sqe.ioprio` of RECV/RECVMSG: stay armed and post a completion per message (Linux 6.0+). */
export const IORING_RECV_MULTISHOT = 1 << 1
/** `io_uring_probe_op.flags`: the opcode is supported. */
const IO_URING_OP_SUPPORTED = 1
/** SEND_ZC came with multishot RECVMSG (Linux 6.0): the probe's marker for it. */
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
 * Whether this kernel runs multishot RECVMSG into provided-buffer rings: RECVMSG and SEND_ZC
 * (which came in the same release as multishot RECVMSG, 6.0) in the opcode probe, and a
 * one-entry buffer ring that registers and unregisters.
 */
export const supported = (libc: Libc.Libc, ring: Ring, pageSize: number): boolean => {
  const probe = new Uint8Array(PROBE_BYTES)
  if (libc.ioUringRegister(ring.fd, IORING_REGISTER_PROBE, probe, PROBE_OPS) < 0) return false
  const lastOp = probe[0]!
  const opsLength = probe[1]!
  const has = (op: number) => op <= lastOp && op < opsLength && (probe[16 + op * 8 + 2]! & IO_URING_OP_SUPPORTED) !== 0
  if (!has(Opcode.RECVMSG) || !has(OP_SEND_ZC)) return false
  const address = mapRing(libc, pageSize)
  if (typeof address === "number") return false
  const registration = new DataView(new ArrayBuffer(BUF_REG_BYTES))
  // The highest group id: the receive rings take the lowest ones first.
  describe(registration, address, 1, GROUPS - 1)
  const bytes = new Uint8Array(registration.buffer)
  const ok = libc.ioUringRegister(ring.fd, IORING_REGISTER_PBUF_RING, bytes, 1) === 0
  if (ok) libc.ioUringRegister(ring.fd, IORING_UNREGISTER_PBUF_RING, bytes, 1)
  libc.munmap(address, pageSize)
  return ok
}
