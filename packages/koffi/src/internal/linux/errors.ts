/**
 * Every error the Linux driver reports, and the one table from errno to the typed errors of
 * socket operations (10000 + errno where Winsock has the same error, as the Winsock
 * numbering was built that way). The messages say what went wrong and what to do; the other
 * modules only pick which one.
 *
 * @internal
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import * as fs from "node:fs"
import * as Libc from "./libc.js"
import { IORING_MAX_REG_BUFFERS, MAX_BUFFER_LENGTH } from "./uring.js"
import { readVmPinKiB } from "./vmpin.js"

const { Codes } = RioError
const { Errno } = Libc

/** The `operation` of every error of the driver's own steps. */
const Operations = {
  setup: "io_uring_setup",
  table: "io_uring_register (IORING_REGISTER_BUFFERS2, sparse table)",
  register: "RIORegisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)",
  deregister: "RIODeregisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)",
  allocate: "allocate (mmap)"
} as const

/** The Winsock-style code of an errno that has no Winsock error of its own. */
const errnoCode = (errno: number): number => 10000 + errno

/** Surfaces in the core's WSAEINVAL when a registration exceeds `maxBufferLength`. */
export const maxBufferLengthReason = "io_uring limits one registered buffer to 1 GiB; Windows RIO does not"

// --- set-up ------------------------------------------------------------------------------------

const unavailable = (code: number, operation: string, message: string, cause?: unknown) =>
  new RioError.RioUnavailable(cause === undefined ? { code, operation, message } : { code, operation, message, cause })

/** The process does not run on Linux. */
export const notLinux = (platform: string): RioError.RioUnavailable =>
  unavailable(
    Codes.WSAEOPNOTSUPP,
    Operations.setup,
    `io_uring exists only on Linux; this is ${platform}. Use the backend for this platform or the test layer.`
  )

/** An architecture whose syscall numbers or iovec layout this backend does not assume. */
export const unsupportedArch = (arch: string, endianness: string): RioError.RioUnavailable =>
  unavailable(
    Codes.WSAEOPNOTSUPP,
    Operations.setup,
    `The io_uring backend supports 64-bit little-endian Linux (x64, arm64, riscv64, loong64, ppc64le); ` +
      `this is ${arch} (${endianness}). Use the test layer.`
  )

/** The `slots` option is outside what the kernel allows. */
export const badSlots = (slots: number): RioError.RioUnavailable =>
  unavailable(
    Codes.WSAEINVAL,
    Operations.table,
    `slots must be an integer from 1 to ${IORING_MAX_REG_BUFFERS} (the kernel's IORING_MAX_REG_BUFFERS); ` +
      `got ${String(slots)}.`
  )

/** The `completionQueueSize` option is outside what the kernel allows. */
export const badCompletionQueueSize = (size: number, max: number): RioError.RioUnavailable =>
  unavailable(
    Codes.WSAEINVAL,
    Operations.setup,
    `completionQueueSize must be an integer from 1 to ${max}; got ${String(size)}.`
  )

/** libc.so.6 would not bind. */
export const noLibc = (cause: unknown): RioError.RioUnavailable =>
  unavailable(
    Codes.WSAEOPNOTSUPP,
    Operations.setup,
    "Could not bind libc.so.6 through Koffi (a libc without glibc's soname, such as musl, or a missing symbol). " +
      "Run on a glibc-based Linux or use the test layer.",
    cause
  )

/** io_uring_setup failed with `errno`. */
export const setupFailed = (libc: Libc.Libc, errno: number): RioError.RioUnavailable => {
  const fail = (message: string) => unavailable(errnoCode(errno), Operations.setup, message, { errno })
  switch (errno) {
    case Errno.ENOSYS:
      return fail(
        "This kernel has no io_uring_setup (ENOSYS): it is older than 5.1, built without CONFIG_IO_URING, or a " +
          "sandbox (gVisor, a seccomp profile) hides the syscall. Run on a kernel with io_uring, allow " +
          "io_uring_setup and io_uring_register in the sandbox, or use the test layer."
      )
    case Errno.EPERM:
      return fail(
        `io_uring is not permitted for this process (EPERM; sysctl kernel.io_uring_disabled is ${sysctlDisabled()}). ` +
          "kernel.io_uring_disabled=2 disables it for everyone, =1 for all but root and members of " +
          "kernel.io_uring_group; a seccomp profile (Docker's default since 25.0, many CI sandboxes) also answers " +
          "EPERM. Set kernel.io_uring_disabled=0 or join the io_uring group, allow io_uring_setup and " +
          "io_uring_register in the seccomp profile, or use the test layer."
      )
    case Errno.EACCES:
      return fail(
        "A security module (SELinux, AppArmor, a BPF LSM) denies io_uring to this process (EACCES). " +
          "Allow io_uring in its policy or use the test layer."
      )
    case Errno.ENOMEM:
      return fail(
        "The kernel could not create an io_uring (ENOMEM). " + memlockAdvice(libc) +
          " The ring itself needs a few locked pages."
      )
    case Errno.EMFILE:
    case Errno.ENFILE:
      return fail(
        errno === Errno.EMFILE
          ? "This process is out of file descriptors (EMFILE). Close unused ones or raise `ulimit -n`."
          : "The system is out of file descriptors (ENFILE). Close unused ones or raise fs.file-max."
      )
    default:
      return fail(`io_uring_setup failed with errno ${errno}. The kernel refused to create a ring.`)
  }
}

/** The sparse registered-buffer table of `slots` could not be created. */
export const tableFailed = (libc: Libc.Libc, errno: number, slots: number): RioError.RioUnavailable => {
  const fail = (message: string) => unavailable(errnoCode(errno), Operations.table, message, { errno })
  switch (errno) {
    case Errno.EINVAL:
      return fail(
        `This kernel cannot create a sparse registered-buffer table of ${slots} slots (EINVAL). ` +
          "IORING_REGISTER_BUFFERS2 needs Linux 5.13 and IORING_RSRC_REGISTER_SPARSE for buffers Linux 5.19; " +
          `the table holds at most ${IORING_MAX_REG_BUFFERS} slots. Upgrade the kernel or use the test layer.`
      )
    case Errno.ENOMEM:
      return fail(`The kernel could not allocate a table of ${slots} slots (ENOMEM). ${memlockAdvice(libc)}`)
    default:
      return fail(`Creating the registered-buffer table failed with errno ${errno}.`)
  }
}

/** The ring's submission and completion queues could not be mapped. */
export const queuesNotMapped = (libc: Libc.Libc, errno: number): RioError.RioUnavailable =>
  unavailable(
    errnoCode(errno),
    Operations.setup,
    `Mapping the io_uring's queues failed with errno ${errno}. ${memlockAdvice(libc)}`,
    { errno }
  )

/** The eventfd that reports completions could not be set up. */
export const noEventfd = (errno: number): RioError.RioUnavailable =>
  unavailable(errnoCode(errno), Operations.setup, `Setting up the io_uring's eventfd failed with errno ${errno}.`, {
    errno
  })

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

/** What to do when the kernel cannot pin memory: the limit, what this process pins, how to raise it. */
const memlockAdvice = (libc: Libc.Libc): string =>
  `The locked-memory limit RLIMIT_MEMLOCK is ${memlockLimit(libc)} (\`ulimit -l\`); io_uring charges it per user, ` +
  `across all of that user's rings, the rings' own pages included (this process pins ${vmPin()} now, VmPin), ` +
  "unless the process has CAP_IPC_LOCK. It may also be the kernel running out of memory. Register less (one " +
  "pooled registration instead of many), or raise the limit: `ulimit -l <KiB>` in the shell that starts the " +
  "process, a `memlock` line in /etc/security/limits.conf, or LimitMEMLOCK= in the systemd unit."

// --- registrations -----------------------------------------------------------------------------

const closed = (operation: string) =>
  new RioError.RioSystemError({
    code: errnoCode(Errno.EBADF),
    operation,
    message: "The io_uring instance is closed: the scope that created this backend has ended. " +
      "Use registered I/O only within the layer's lifetime.",
    cause: { errno: Errno.EBADF }
  })

/** A registration of no bytes, which the kernel would read as "clear the slot". */
export const emptyRegistration = (): RioError.WSAEINVAL =>
  new RioError.WSAEINVAL({
    operation: Operations.register,
    message: "DataLength is zero: a registration must cover at least one byte."
  })

/** Every one of the table's `slots` holds a registration. */
export const tableFull = (slots: number): RioError.WSAENOBUFS =>
  new RioError.WSAENOBUFS({
    operation: Operations.register,
    message: `The io_uring registered-buffer table is full: all ${slots} slots hold a registration. ` +
      "Deregister buffers you no longer use, register one region and slice it (BufferPool), or create the " +
      `backend with more slots (at most ${IORING_MAX_REG_BUFFERS}).`,
    cause: { slots }
  })

/** IORING_REGISTER_BUFFERS_UPDATE refused to register `length` bytes at `address` with `errno`. */
export const registerFailed = (
  libc: Libc.Libc,
  errno: number,
  address: bigint,
  length: number
): RioError.RegisterError | RioError.RioSystemError => {
  const operation = Operations.register
  const cause = { errno }
  const range = `${length} bytes at 0x${address.toString(16)}`
  switch (errno) {
    case Errno.EFAULT:
      // The kernel answers EFAULT for an over-long buffer too; the core's limit check says
      // WSAEINVAL for the same input, so this keeps one input, one error.
      if (length > MAX_BUFFER_LENGTH) {
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
    case Errno.EOVERFLOW:
      return new RioError.WSAEFAULT({
        operation,
        message: `Cannot register ${range} (EOVERFLOW): the range wraps around the end of the address space.`,
        cause
      })
    case Errno.EOPNOTSUPP:
      return new RioError.WSAEFAULT({
        operation,
        message: `Cannot register ${range} (EOPNOTSUPP): this kernel pins only anonymous memory, not file-backed ` +
          "mappings. Register memory from allocate() or a Uint8Array/ArrayBuffer.",
        cause
      })
    case Errno.ENOMEM:
      return new RioError.WSAENOBUFS({
        operation,
        message: `The kernel could not pin ${range} (ENOMEM). ${memlockAdvice(libc)}`,
        cause
      })
    case Errno.EINVAL:
      return new RioError.WSAEINVAL({
        operation,
        message: `The kernel rejected the registration of ${range} (EINVAL).`,
        cause
      })
    case Errno.EBADF:
      return closed(operation)
    case Errno.ENXIO:
      return new RioError.RioSystemError({
        code: errnoCode(errno),
        operation,
        message: "The ring's registered-buffer table is gone (ENXIO): the ring is being torn down.",
        cause
      })
    default:
      return new RioError.RioSystemError({
        code: errnoCode(errno),
        operation,
        message: `io_uring_register failed with errno ${errno} while registering ${range}.`,
        cause
      })
  }
}

/** `id` holds no registration of this ring. */
export const notRegistered = (id: number): RioError.WSAEINVAL =>
  new RioError.WSAEINVAL({
    operation: Operations.deregister,
    message: `Buffer id ${id} is not registered on this ring (never was, or already deregistered).`
  })

/** IORING_REGISTER_BUFFERS_UPDATE refused to clear slot `id` with `errno`. */
export const deregisterFailed = (errno: number, id: number): RioError.WSAEINVAL | RioError.RioSystemError => {
  const operation = Operations.deregister
  const cause = { errno }
  return errno === Errno.EINVAL
    ? new RioError.WSAEINVAL({ operation, message: `The kernel rejected clearing slot ${id} (EINVAL).`, cause })
    : new RioError.RioSystemError({
      code: errnoCode(errno),
      operation,
      message: `io_uring_register failed with errno ${errno} while clearing slot ${id}.`,
      cause
    })
}

// --- memory ------------------------------------------------------------------------------------

/** mmap of `length` bytes failed with `errno`. */
export const allocationFailed = (errno: number, length: number): RioError.WSAENOBUFS | RioError.RioSystemError =>
  errno === Errno.ENOMEM
    ? new RioError.WSAENOBUFS({
      operation: Operations.allocate,
      message: `mmap could not map ${length} bytes (ENOMEM): out of address space or memory ` +
        "(see `ulimit -v` and vm.overcommit_memory). Allocate less.",
      cause: { errno }
    })
    : new RioError.RioSystemError({
      code: errnoCode(errno),
      operation: Operations.allocate,
      message: `mmap of ${length} bytes failed with errno ${errno}.`,
      cause: { errno }
    })

/** Koffi could not expose `byteLength` bytes of native memory as an ArrayBuffer. */
export const noExternalBuffers = (byteLength: number, cause: unknown): RioError.RioSystemError =>
  new RioError.RioSystemError({
    code: errnoCode(Errno.EOPNOTSUPP),
    operation: Operations.allocate,
    message: `This runtime cannot expose ${byteLength} bytes of native memory as an ArrayBuffer ` +
      "(external buffers disabled, as in Electron, or longer than a typed array may be).",
    cause
  })

// --- sockets -----------------------------------------------------------------------------------

/** errno → [the Winsock code whose error it becomes, what it means]. */
const codes: ReadonlyMap<number, readonly [winsock: number, meaning: string]> = new Map(
  [
    [Errno.ECONNREFUSED, [Codes.WSAECONNREFUSED, "nothing listens at that address"]],
    [Errno.ECONNRESET, [Codes.WSAECONNRESET, "the peer reset the connection"]],
    // A send after the peer went away: Winsock reports the reset.
    [Errno.EPIPE, [Codes.WSAECONNRESET, "the connection is gone (the peer closed or reset it)"]],
    [Errno.ECONNABORTED, [Codes.WSAECONNABORTED, "the connection was aborted"]],
    [Errno.ECANCELED, [Codes.WSAECONNABORTED, "the operation was cancelled"]],
    [Errno.EADDRINUSE, [Codes.WSAEADDRINUSE, "that address and port are already bound"]],
    [Errno.EADDRNOTAVAIL, [Codes.WSAEADDRNOTAVAIL, "that address is not available here"]],
    [Errno.EMSGSIZE, [Codes.WSAEMSGSIZE, "the datagram is too large"]],
    [Errno.ESHUTDOWN, [Codes.WSAESHUTDOWN, "this side was shut down"]],
    [Errno.ETIMEDOUT, [Codes.WSAETIMEDOUT, "the connection timed out"]],
    [Errno.ENOBUFS, [Codes.WSAENOBUFS, "the kernel is out of buffer space"]],
    [Errno.ENOMEM, [Codes.WSAENOBUFS, "the kernel is out of memory"]],
    [Errno.EINVAL, [Codes.WSAEINVAL, "the kernel refused an argument"]],
    [Errno.EFAULT, [Codes.WSAEFAULT, "the kernel refused the memory"]],
    [Errno.ENOTCONN, [Codes.WSAECONNRESET, "the socket is not connected"]],
    [Errno.ENETUNREACH, [Codes.WSAEADDRNOTAVAIL, "the network is unreachable"]],
    [Errno.EHOSTUNREACH, [Codes.WSAEADDRNOTAVAIL, "the host is unreachable"]]
  ] as const
)

/** The typed error for `errno` from socket operation `operation`. */
export const fromErrno = (errno: number, operation: string): NetDriverError => {
  const cause = { errno }
  const known = codes.get(errno)
  return known === undefined
    // Not through `fromCode`: 10000 + an unmapped errno can equal a Winsock code of another meaning.
    ? new RioError.RioSystemError({
      code: errnoCode(errno),
      operation,
      message: `${operation} failed with errno ${errno}.`,
      cause
    })
    : RioError.fromCode(known[0], { operation, message: `${operation}: ${known[1]} (errno ${errno}).`, cause })
}

/** A datagram of `length` bytes arrived in a slice of `room`. */
export const truncated = (length: number, room: number): NetDriverError =>
  new RioError.WSAEMSGSIZE({
    operation: "RIOReceiveEx",
    message: `A datagram of ${length} bytes does not fit the ${room}-byte slice: its first ${room} bytes landed ` +
      "in the slice and the rest is lost. Receive into larger slices.",
    cause: { length }
  })
