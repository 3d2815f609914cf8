/**
 * The Linux backend's `Driver`: RIO buffer registration mapped onto one io_uring's sparse
 * registered-buffer table, where the slot index is the `BufferId`.
 */
import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver, NativeMemory } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import * as fs from "node:fs"
import * as os from "node:os"
import * as Libc from "./libc.js"
import * as Net from "./net.js"
import { Queues } from "./queues.js"
import * as Uring from "./uring.js"
import { readVmPinKiB } from "./vmpin.js"
import * as Wake from "./wake.js"

/** Options of {@link make}. */
export interface Options {
  /** Size of the sparse buffer table, 1..16384; at most this many registrations at once. */
  readonly slots?: number
  /**
   * Completion-queue entries of the ring (rounded up to a power of two by the kernel;
   * default twice the submission queue). A small queue never loses a completion: the
   * kernel holds overflow (IORING_FEAT_NODROP) and the driver drains before resubmitting.
   */
  readonly completionQueueSize?: number
}

/** Submission-queue entries: operations written in one event-loop turn beyond this wait in JS. */
const SUBMISSION_ENTRIES = 256

/** `Driver.backend` of this driver. */
export const backend = "io_uring"

/** Surfaces in the core's WSAEINVAL when a registration exceeds `maxBufferLength`. */
export const maxBufferLengthReason = "io_uring limits one registered buffer to 1 GiB; Windows RIO does not"

/** The `operation` of every error this driver returns, by step. */
export const Operations = {
  setup: "io_uring_setup",
  table: "io_uring_register (IORING_REGISTER_BUFFERS2, sparse table)",
  register: "RIORegisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)",
  deregister: "RIODeregisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)",
  allocate: "allocate (mmap)"
} as const

// Architectures whose syscall numbers are 425/427 and whose iovec is two little-endian u64.
const supportedArchs: ReadonlySet<string> = new Set(["x64", "arm64", "riscv64", "loong64", "ppc64"])

const { EBADF, EFAULT, EINVAL, ENOMEM, ENOSYS, EOPNOTSUPP, EOVERFLOW, EPERM, EACCES, EMFILE, ENFILE, ENXIO } =
  Libc.Errno

/**
 * Creates the ring and its sparse table in the scope. Closing the scope unregisters every
 * buffer (synchronously, so VmPin and the memlock charge drop at once) and closes the ring.
 */
export const make = (options?: Options): Effect.Effect<Driver, RioError.RioUnavailable, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.suspend(() => {
        const opened = open(options?.slots ?? Uring.IORING_MAX_REG_BUFFERS, options?.completionQueueSize)
        return opened instanceof RioError.RioUnavailable ? Effect.fail(opened) : Effect.succeed(opened)
      }),
      ({ net, ring }) =>
        Effect.sync(() => {
          net.shutdownAll()
          ring.close()
        })
    ),
    ({ libc, net, ring }) => makeDriver(libc, ring, net)
  )

const unavailable = (code: number, operation: string, message: string, cause?: unknown) =>
  new RioError.RioUnavailable(cause === undefined ? { code, operation, message } : { code, operation, message, cause })

const open = (
  slots: number,
  completionQueueSize: number | undefined
): { libc: Libc.Libc; ring: Uring.Ring; net: Net.LinuxNet } | RioError.RioUnavailable => {
  if (process.platform !== "linux") {
    return unavailable(
      RioError.Codes.WSAEOPNOTSUPP,
      Operations.setup,
      `io_uring exists only on Linux; this is ${process.platform}. Use the backend for this platform or the test layer.`
    )
  }
  if (!supportedArchs.has(process.arch) || os.endianness() !== "LE") {
    return unavailable(
      RioError.Codes.WSAEOPNOTSUPP,
      Operations.setup,
      `The io_uring backend supports 64-bit little-endian Linux (x64, arm64, riscv64, loong64, ppc64le); ` +
        `this is ${process.arch} (${os.endianness()}). Use the test layer.`
    )
  }
  if (!Number.isInteger(slots) || slots < 1 || slots > Uring.IORING_MAX_REG_BUFFERS) {
    return unavailable(
      RioError.Codes.WSAEINVAL,
      Operations.table,
      `slots must be an integer from 1 to ${Uring.IORING_MAX_REG_BUFFERS} (the kernel's IORING_MAX_REG_BUFFERS); ` +
        `got ${String(slots)}.`
    )
  }
  let libc: Libc.Libc
  try {
    libc = Libc.load()
  } catch (cause) {
    return unavailable(
      RioError.Codes.WSAEOPNOTSUPP,
      Operations.setup,
      "Could not bind libc.so.6 through Koffi (a libc without glibc's soname, such as musl, or a missing symbol). " +
        "Run on a glibc-based Linux or use the test layer.",
      cause
    )
  }
  if (
    completionQueueSize !== undefined &&
    !(Number.isInteger(completionQueueSize) && completionQueueSize >= 1 && completionQueueSize <= 1 << 19)
  ) {
    return unavailable(
      RioError.Codes.WSAEINVAL,
      Operations.setup,
      `completionQueueSize must be an integer from 1 to ${1 << 19}; got ${String(completionQueueSize)}.`
    )
  }
  // The kernel wants at least as many completion entries as submission entries.
  const entries = Math.min(SUBMISSION_ENTRIES, completionQueueSize ?? SUBMISSION_ENTRIES)
  // DEFER_TASKRUN where the kernel (6.1+) and Node allow it (see wake.ts); else a plain ring.
  const deferred = Wake.eventfdAvailable()
    ? Uring.IORING_SETUP_SINGLE_ISSUER | Uring.IORING_SETUP_DEFER_TASKRUN | Uring.IORING_SETUP_TASKRUN_FLAG
    : 0
  let ring = Uring.Ring.open(libc, slots, entries, completionQueueSize, deferred)
  if (deferred !== 0 && !(ring instanceof Uring.Ring) && ring.stage === "io_uring_setup" && ring.errno === EINVAL) {
    ring = Uring.Ring.open(libc, slots, entries, completionQueueSize)
  }
  if (!(ring instanceof Uring.Ring)) {
    return ring.stage === "io_uring_setup" ? setupError(libc, ring.errno) : tableError(libc, ring.errno, slots)
  }
  const queues = Queues.map(libc, ring)
  if (typeof queues === "number") {
    ring.close()
    return unavailable(
      10000 + queues,
      Operations.setup,
      `Mapping the io_uring's queues failed with errno ${queues}. ${memlockAdvice(libc)}`,
      { errno: queues }
    )
  }
  const net = Net.make(libc, ring, queues)
  if (typeof net === "number") {
    queues.unmap()
    ring.close()
    return unavailable(10000 + net, Operations.setup, `Setting up the io_uring's eventfd failed with errno ${net}.`, {
      errno: net
    })
  }
  return { libc, ring, net }
}

const setupError = (libc: Libc.Libc, errno: number): RioError.RioUnavailable => {
  const fail = (message: string) => unavailable(10000 + errno, Operations.setup, message, { errno })
  switch (errno) {
    case ENOSYS:
      return fail(
        "This kernel has no io_uring_setup (ENOSYS): it is older than 5.1, built without CONFIG_IO_URING, or a " +
          "sandbox (gVisor, a seccomp profile) hides the syscall. Run on a kernel with io_uring, allow " +
          "io_uring_setup and io_uring_register in the sandbox, or use the test layer."
      )
    case EPERM:
      return fail(
        `io_uring is not permitted for this process (EPERM; sysctl kernel.io_uring_disabled is ${sysctlDisabled()}). ` +
          "kernel.io_uring_disabled=2 disables it for everyone, =1 for all but root and members of " +
          "kernel.io_uring_group; a seccomp profile (Docker's default since 25.0, many CI sandboxes) also answers " +
          "EPERM. Set kernel.io_uring_disabled=0 or join the io_uring group, allow io_uring_setup and " +
          "io_uring_register in the seccomp profile, or use the test layer."
      )
    case EACCES:
      return fail(
        "A security module (SELinux, AppArmor, a BPF LSM) denies io_uring to this process (EACCES). " +
          "Allow io_uring in its policy or use the test layer."
      )
    case ENOMEM:
      return fail(
        "The kernel could not create an io_uring (ENOMEM). " + memlockAdvice(libc) +
          " The ring itself needs a few locked pages."
      )
    case EMFILE:
    case ENFILE:
      return fail(
        errno === EMFILE
          ? "This process is out of file descriptors (EMFILE). Close unused ones or raise `ulimit -n`."
          : "The system is out of file descriptors (ENFILE). Close unused ones or raise fs.file-max."
      )
    default:
      return fail(`io_uring_setup failed with errno ${errno}. The kernel refused to create a ring.`)
  }
}

const tableError = (libc: Libc.Libc, errno: number, slots: number): RioError.RioUnavailable => {
  const fail = (message: string) => unavailable(10000 + errno, Operations.table, message, { errno })
  switch (errno) {
    case EINVAL:
      return fail(
        `This kernel cannot create a sparse registered-buffer table of ${slots} slots (EINVAL). ` +
          "IORING_REGISTER_BUFFERS2 needs Linux 5.13 and IORING_RSRC_REGISTER_SPARSE for buffers Linux 5.19; " +
          `the table holds at most ${Uring.IORING_MAX_REG_BUFFERS} slots. Upgrade the kernel or use the test layer.`
      )
    case ENOMEM:
      return fail(`The kernel could not allocate a table of ${slots} slots (ENOMEM). ${memlockAdvice(libc)}`)
    default:
      return fail(`Creating the registered-buffer table failed with errno ${errno}.`)
  }
}

const sysctlDisabled = (): string => {
  try {
    return fs.readFileSync("/proc/sys/kernel/io_uring_disabled", "utf8").trim()
  } catch {
    return "unknown (no /proc/sys/kernel/io_uring_disabled, kernel before 6.6)"
  }
}

/** RLIMIT_MEMLOCK's soft limit as `ulimit -l` prints it. */
const memlockLimit = (libc: Libc.Libc): string => {
  const limit = libc.memlockSoftLimit()
  if (limit === undefined) return "unknown"
  if (limit === Libc.RLIM_INFINITY) return "unlimited"
  return `${limit / 1024n} KiB`
}

const vmPin = (): string => {
  try {
    return `${readVmPinKiB()} KiB`
  } catch {
    return "unknown"
  }
}

const memlockAdvice = (libc: Libc.Libc): string =>
  `The locked-memory limit RLIMIT_MEMLOCK is ${memlockLimit(libc)} (\`ulimit -l\`); io_uring charges it per user, ` +
  `across all of that user's rings, the rings' own pages included (this process pins ${vmPin()} now, VmPin), ` +
  "unless the process has CAP_IPC_LOCK. It may also be the kernel running out of memory. Register less (one " +
  "pooled registration instead of many), or raise the limit: `ulimit -l <KiB>` in the shell that starts the " +
  "process, a `memlock` line in /etc/security/limits.conf, or LimitMEMLOCK= in the systemd unit."

const closedError = (operation: string) =>
  new RioError.RioSystemError({
    code: 10000 + EBADF,
    operation,
    message: "The io_uring instance is closed: the scope that created this backend has ended. " +
      "Use registered I/O only within the layer's lifetime.",
    cause: { errno: EBADF }
  })

const registerError = (
  libc: Libc.Libc,
  errno: number,
  address: bigint,
  length: number
): RioError.RegisterError | RioError.RioSystemError => {
  const operation = Operations.register
  const cause = { errno }
  const range = `${length} bytes at 0x${address.toString(16)}`
  switch (errno) {
    case EFAULT:
      // The kernel answers EFAULT for an over-long buffer too; the core's limit check says
      // WSAEINVAL for the same input, so this keeps one input, one error.
      if (length > Uring.MAX_BUFFER_LENGTH) {
        return new RioError.WSAEINVAL({
          operation,
          message: `Cannot register ${range}: ${maxBufferLengthReason}. Split the buffer into several registrations.`,
          cause
        })
      }
      return new RioError.WSAEFAULT({
        operation,
        message: `The kernel could not pin ${range} (EFAULT): the range is not entirely mapped, is read-only, ` +
          "or is not ordinary process memory. Register memory from allocate() or a writable Uint8Array/ArrayBuffer.",
        cause
      })
    case EOVERFLOW:
      return new RioError.WSAEFAULT({
        operation,
        message: `Cannot register ${range} (EOVERFLOW): the range wraps around the end of the address space.`,
        cause
      })
    case EOPNOTSUPP:
      return new RioError.WSAEFAULT({
        operation,
        message: `Cannot register ${range} (EOPNOTSUPP): this kernel pins only anonymous memory, not file-backed ` +
          "mappings. Register memory from allocate() or a Uint8Array/ArrayBuffer.",
        cause
      })
    case ENOMEM:
      return new RioError.WSAENOBUFS({
        operation,
        message: `The kernel could not pin ${range} (ENOMEM). ${memlockAdvice(libc)}`,
        cause
      })
    case EINVAL:
      return new RioError.WSAEINVAL({
        operation,
        message: `The kernel rejected the registration of ${range} (EINVAL).`,
        cause
      })
    case EBADF:
      return closedError(operation)
    case ENXIO:
      return new RioError.RioSystemError({
        code: 10000 + errno,
        operation,
        message: "The ring's registered-buffer table is gone (ENXIO): the ring is being torn down.",
        cause
      })
    default:
      return new RioError.RioSystemError({
        code: 10000 + errno,
        operation,
        message: `io_uring_register failed with errno ${errno} while registering ${range}.`,
        cause
      })
  }
}

const deregisterError = (errno: number, id: number): RioError.WSAEINVAL | RioError.RioSystemError => {
  const operation = Operations.deregister
  const cause = { errno }
  return errno === EINVAL
    ? new RioError.WSAEINVAL({ operation, message: `The kernel rejected clearing slot ${id} (EINVAL).`, cause })
    : new RioError.RioSystemError({
      code: 10000 + errno,
      operation,
      message: `io_uring_register failed with errno ${errno} while clearing slot ${id}.`,
      cause
    })
}

/**
 * Which slots hold a registration, as a bitmap. Lowest-free-first keeps ids deterministic
 * and dense; the hint makes the common case O(1) and the worst case a scan of slots/32 words.
 */
class SlotTable {
  private readonly words: Uint32Array
  private hint = 0

  constructor(readonly size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32))
  }

  /** The lowest free slot, or -1 when every slot is taken. */
  lowestFree(): number {
    const words = this.words
    for (let w = this.hint; w < words.length; w++) {
      const free = ~words[w]
      if (free !== 0) {
        this.hint = w
        const slot = w * 32 + (31 - Math.clz32(free & -free))
        return slot < this.size ? slot : -1
      }
    }
    this.hint = words.length
    return -1
  }

  has(slot: number): boolean {
    return Number.isInteger(slot) && slot >= 0 && slot < this.size &&
      (this.words[slot >>> 5] & (1 << (slot & 31))) !== 0
  }

  take(slot: number): void {
    this.words[slot >>> 5] |= 1 << (slot & 31)
  }

  release(slot: number): void {
    this.words[slot >>> 5] &= ~(1 << (slot & 31))
    if (slot >>> 5 < this.hint) this.hint = slot >>> 5
  }
}

interface Mapping {
  readonly address: bigint
  readonly length: number
}

// Module-wide: a registry only calls back while it is itself reachable, and mappings must be
// returned even after the driver that made them is gone.
const reclaim = new FinalizationRegistry<Mapping>(({ address, length }) => {
  Libc.load().munmap(address, length)
  unmapped++
})
let unmapped = 0

/** How many allocations have been unmapped after their views were collected (for tests). */
export const unmappedCount = (): number => unmapped

const makeDriver = (libc: Libc.Libc, ring: Uring.Ring, net: Net.LinuxNet): Driver => {
  const pageSize = libc.pageSize()
  const table = new SlotTable(ring.slots)
  // Allocations not yet freed, keyed by their views' ArrayBuffer, so that `free` only ever
  // touches memory this driver mapped, once.
  const live = new WeakMap<ArrayBufferLike, Mapping>()

  return {
    backend,
    pageSize,
    maxBufferLength: Uring.MAX_BUFFER_LENGTH,
    maxBufferLengthReason,
    net,

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
      if (!(length > 0)) {
        return new RioError.WSAEINVAL({
          operation: Operations.register,
          message: "DataLength is zero: a registration must cover at least one byte."
        })
      }
      const slot = table.lowestFree()
      if (slot < 0) {
        return new RioError.WSAENOBUFS({
          operation: Operations.register,
          message: `The io_uring registered-buffer table is full: all ${table.size} slots hold a registration. ` +
            "Deregister buffers you no longer use, register one region and slice it (BufferPool), or create the " +
            `backend with more slots (at most ${Uring.IORING_MAX_REG_BUFFERS}).`,
          cause: { slots: table.size }
        })
      }
      const errno = ring.update(slot, address, length)
      if (errno !== 0) return registerError(libc, errno, address, length)
      table.take(slot)
      return BufferId.unsafeMake(slot)
    },

    // io_uring keeps a cleared buffer alive until the requests using it complete, so even an
    // early deregistration would be safe on this backend (the core never does one).
    deregister: (id) => {
      if (!table.has(id)) {
        return new RioError.WSAEINVAL({
          operation: Operations.deregister,
          message: `Buffer id ${id} is not registered on this ring (never was, or already deregistered).`
        })
      }
      // Closing the ring already released every registration.
      if (!ring.isOpen) {
        table.release(id)
        return undefined
      }
      const errno = ring.update(id, 0n, 0)
      if (errno !== 0) return deregisterError(errno, id)
      table.release(id)
      return undefined
    },

    allocate: (byteLength) => {
      const length = Math.ceil(byteLength / pageSize) * pageSize
      const address = libc.mmap(length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS)
      if (address === Libc.MAP_FAILED) {
        const errno = libc.errno()
        return errno === ENOMEM
          ? new RioError.WSAENOBUFS({
            operation: Operations.allocate,
            message: `mmap could not map ${length} bytes (ENOMEM): out of address space or memory ` +
              "(see `ulimit -v` and vm.overcommit_memory). Allocate less.",
            cause: { errno }
          })
          : new RioError.RioSystemError({
            code: 10000 + errno,
            operation: Operations.allocate,
            message: `mmap of ${length} bytes failed with errno ${errno}.`,
            cause: { errno }
          })
      }
      // A transparent huge page would be pinned and charged whole (2 MiB) even for a 4 KiB
      // registration; base pages keep the locked-page count what the user asked for.
      // Best effort: kernels without THP answer EINVAL, and then the advice is moot.
      libc.madvise(address, length, Libc.MADV_NOHUGEPAGE)
      let bytes: Uint8Array
      try {
        bytes = new Uint8Array(koffi.view(address, byteLength))
      } catch (cause) {
        libc.munmap(address, length)
        return new RioError.RioSystemError({
          code: 10000 + EOPNOTSUPP,
          operation: Operations.allocate,
          message: `This runtime cannot expose ${byteLength} bytes of native memory as an ArrayBuffer ` +
            "(external buffers disabled, as in Electron, or longer than a typed array may be).",
          cause
        })
      }
      const mapping: Mapping = { address, length }
      live.set(bytes.buffer, mapping)
      reclaim.register(bytes.buffer, mapping)
      return { address, bytes }
    },

    // Koffi's views cannot be detached, so unmapping now would turn any stale view into a
    // segfault. MADV_DONTNEED returns the pages at once (a stale read sees zeros, a write
    // only dirties a fresh private page); the address range goes when the view is collected.
    free: (memory: NativeMemory) => {
      const mapping = live.get(memory.bytes.buffer)
      if (mapping === undefined) return
      live.delete(memory.bytes.buffer)
      libc.madvise(mapping.address, mapping.length, Libc.MADV_DONTNEED)
    }
  }
}
