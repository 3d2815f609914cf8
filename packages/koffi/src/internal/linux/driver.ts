/**
 * The Linux backend's `Driver`: RIO buffer registration mapped onto one io_uring's sparse
 * registered-buffer table, where the slot index is the `BufferId`, with the ring's sockets
 * (`net.ts`), their receive rings where the kernel runs them (`receiveRings.ts` for UDP,
 * `streamRings.ts` for TCP) and mmap'd memory (`memory.ts`).
 */
import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver } from "@effect-rio/core/Driver"
import { IdAllocator } from "@effect-rio/core/IdAllocator"
import * as RioError from "@effect-rio/core/RioError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import * as os from "node:os"
import type { LinuxOptions } from "../../KoffiRio.js"
import * as Sockaddr from "../sockaddr.js"
import * as BufferRing from "./bufferRing.js"
import * as Errors from "./errors.js"
import * as Libc from "./libc.js"
import * as Memory from "./memory.js"
import * as Net from "./net.js"
import * as ReceiveRings from "./receiveRings.js"
import * as RingLoop from "./ring.js"
import { sockaddr } from "./sockets.js"
import * as StreamRings from "./streamRings.js"
import * as Unavailable from "./unavailable.js"
import * as Uring from "./uring.js"
import * as Wake from "./wake.js"

/** Submission-queue entries: operations written in one event-loop turn beyond this wait in JS. */
const SUBMISSION_ENTRIES = 256
/** The largest `completionQueueSize` accepted. */
const MAX_COMPLETION_ENTRIES = 1 << 19

// Architectures whose syscall numbers are 425/427 and whose iovec is two little-endian u64.
const supportedArchs: ReadonlySet<string> = new Set(["x64", "arm64", "riscv64", "loong64", "ppc64"])

/** What the layer's scope holds: the ring, the loop that runs operations on it, its receive rings. */
interface Opened {
  readonly libc: Libc.Libc
  readonly ring: Uring.Ring
  readonly loop: RingLoop.RingLoop
  readonly pageSize: number
  readonly addresses: Sockaddr.Cache
  /** The provided-buffer rings behind both kinds of receive rings, where the kernel runs them. */
  readonly groups: BufferRing.BufferGroups | undefined
}

/**
 * Creates the ring, its sparse table and its operation loop in the scope. Closing the scope
 * is the one teardown: it stops the loop, then unregisters every buffer (synchronously, so
 * VmPin and the memlock charge drop at once) and closes the ring.
 */
export const make = (options?: LinuxOptions): Effect.Effect<Driver, RioError.RioUnavailable, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.suspend(() => {
        const opened = open(
          options?.slots ?? Uring.IORING_MAX_REG_BUFFERS,
          options?.completionQueueSize,
          options?.multishot ?? true
        )
        return opened instanceof RioError.RioUnavailable ? Effect.fail(opened) : Effect.succeed(opened)
      }),
      ({ groups, loop, ring }) =>
        Effect.sync(() => {
          loop.shutdown()
          ring.close()
          // After the close: the kernel has dropped the receive requests and buffer rings.
          groups?.shutdown()
        })
    ),
    makeDriver
  )

const open = (
  slots: number,
  completionQueueSize: number | undefined,
  multishot: boolean
): Opened | RioError.RioUnavailable => {
  if (process.platform !== "linux") return Unavailable.notLinux(process.platform)
  if (!supportedArchs.has(process.arch) || os.endianness() !== "LE") {
    return Unavailable.unsupportedArch(process.arch, os.endianness())
  }
  if (!Number.isInteger(slots) || slots < 1 || slots > Uring.IORING_MAX_REG_BUFFERS) return Unavailable.badSlots(slots)
  let libc: Libc.Libc
  try {
    libc = Libc.load()
  } catch (cause) {
    return Unavailable.noLibc(cause)
  }
  if (
    completionQueueSize !== undefined &&
    !(Number.isInteger(completionQueueSize) && completionQueueSize >= 1 &&
      completionQueueSize <= MAX_COMPLETION_ENTRIES)
  ) {
    return Unavailable.badCompletionQueueSize(completionQueueSize, MAX_COMPLETION_ENTRIES)
  }
  // The kernel wants at least as many completion entries as submission entries.
  const submissionEntries = Math.min(SUBMISSION_ENTRIES, completionQueueSize ?? SUBMISSION_ENTRIES)
  // DEFER_TASKRUN where the kernel (6.1+) and Node allow it (see wake.ts); else a plain ring.
  const deferFlags = Wake.eventfdAvailable()
    ? Uring.IORING_SETUP_SINGLE_ISSUER | Uring.IORING_SETUP_DEFER_TASKRUN | Uring.IORING_SETUP_TASKRUN_FLAG
    : 0
  let ring = Uring.Ring.open(libc, slots, submissionEntries, completionQueueSize, deferFlags)
  if (
    deferFlags !== 0 && !(ring instanceof Uring.Ring) && ring.stage === "io_uring_setup" &&
    ring.errno === Libc.Errno.EINVAL
  ) {
    ring = Uring.Ring.open(libc, slots, submissionEntries, completionQueueSize)
  }
  if (!(ring instanceof Uring.Ring)) {
    return ring.stage === "io_uring_setup"
      ? Unavailable.setupFailed(libc, ring.errno)
      : Unavailable.tableFailed(libc, ring.errno, slots)
  }
  const loop = RingLoop.open(libc, ring)
  if ("stage" in loop) {
    ring.close()
    return loop.stage === "mmap" ? Unavailable.queuesNotMapped(libc, loop.errno) : Unavailable.noEventfd(loop.errno)
  }
  const pageSize = libc.pageSize()
  const addresses = new Sockaddr.Cache(sockaddr)
  // Decided once: a kernel without them (before 6.0) gets the core's posted receives. UDP and
  // TCP share the ring's buffer-group ids.
  const groups = multishot && BufferRing.supported(libc, ring, pageSize)
    ? new BufferRing.BufferGroups(libc, ring, pageSize)
    : undefined
  return { libc, ring, loop, pageSize, addresses, groups }
}

const makeDriver = ({ addresses, groups, libc, loop, pageSize, ring }: Opened): Driver => {
  const ids = new IdAllocator(ring.slots)
  const memory = Memory.make(libc, pageSize)

  return {
    backend: "io_uring",
    pageSize,
    maxBufferLength: Uring.MAX_BUFFER_LENGTH,
    maxBufferLengthReason: Errors.maxBufferLengthReason,
    net: Net.make(
      libc,
      loop,
      addresses,
      groups && ReceiveRings.make(loop, groups, addresses),
      groups && StreamRings.make(loop, groups)
    ),

    addressOf: (bytes) => {
      // Reading `.buffer` moves a small typed array's data off V8's moving heap onto a fixed
      // backing store; only then is the address stable.
      const buffer = bytes.buffer
      if (buffer.byteLength === 0) return 0n
      try {
        return koffi.address(bytes)
      } catch {
        return 0n
      }
    },

    register: (address, length) => {
      // The kernel would read (0, 0) as "clear the slot" and report success.
      if (!(length > 0)) return Errors.emptyRegistration()
      const id = ids.take()
      if (id < 0) return Errors.tableFull(ids.capacity)
      const errno = ring.update(id, address, length)
      if (errno !== 0) {
        ids.release(id)
        return Errors.registerFailed(libc, errno, address, length)
      }
      return BufferId.unsafeMake(id)
    },

    // io_uring keeps a cleared buffer alive until the requests using it complete, so even an
    // early deregistration would be safe on this backend (the core never does one).
    deregister: (id) => {
      if (!ids.has(id)) return Errors.notRegistered(id)
      // Closing the ring already released every registration.
      if (!ring.isOpen) {
        ids.release(id)
        return undefined
      }
      const errno = ring.update(id, 0n, 0)
      if (errno !== 0) return Errors.deregisterFailed(errno, id)
      ids.release(id)
      return undefined
    },

    allocate: memory.allocate,
    free: memory.free
  }
}
