/**
 * The synchronous, already-validated view of an OS registration API that a backend
 * implements. `RegisteredIo.make` turns a driver into the `RegisteredIo` service,
 * adding the validation, bookkeeping and statistics that every backend shares, so that
 * backends differ only in the native calls.
 *
 * @since 0.1.0
 */
import type { BufferId } from "./BufferId.js"
import type { RegisterError, RioSystemError, WSAEINVAL, WSAENOBUFS } from "./RioError.js"

/**
 * Native memory owned by a backend: a stable address and a view of it.
 *
 * @since 0.1.0
 * @category models
 */
export interface NativeMemory {
  readonly address: bigint
  readonly bytes: Uint8Array
}

/**
 * A backend's native calls. Every method is synchronous (one FFI call or a few) and
 * returns its error instead of throwing. Arguments are already validated by the core:
 * lengths are integers in `1..maxBufferLength`, ids are live, memory is the driver's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver {
  /** A short name, for example `"io_uring"`, `"winsock"` or `"test"`. */
  readonly backend: string
  readonly pageSize: number
  /** The largest single registration the backend accepts (DWORD on Windows, 1 GiB on io_uring). */
  readonly maxBufferLength: number
  /** Why `maxBufferLength` is lower than a DWORD, for the error message (for example io_uring's 1 GiB). */
  readonly maxBufferLengthReason?: string
  /** Stable address of a materialised view's first byte. */
  readonly addressOf: (bytes: Uint8Array) => bigint
  /** RIORegisterBuffer. */
  readonly register: (address: bigint, length: number) => BufferId | RegisterError | RioSystemError
  /** RIODeregisterBuffer. The core calls it only once no I/O token is outstanding on `id`. */
  readonly deregister: (id: BufferId) => WSAEINVAL | RioSystemError | undefined
  /** Page-aligned, committed, zeroed memory of at least `byteLength` bytes. */
  readonly allocate: (byteLength: number) => NativeMemory | WSAENOBUFS | RioSystemError
  /**
   * Gives memory back. Views of it must stay safe to touch afterwards (they may read
   * zeros): a stale view must never crash the process.
   */
  readonly free: (memory: NativeMemory) => void
  /** Called once when the service's scope closes, after every registration is gone. */
  readonly close?: () => void
}

/**
 * How many pages `[address, address + length)` touches: what a kernel locks for one
 * registration of that range.
 *
 * @since 0.1.0
 * @category utils
 */
export const pagesCovered = (address: bigint, length: number, pageSize: number): number => {
  // User-space addresses fit a double exactly, and this runs on every registration:
  // plain arithmetic, not BigInt.
  const start = Number(address)
  return Math.floor((start + length - 1) / pageSize) - Math.floor(start / pageSize) + 1
}
