/**
 * Why the Linux backend cannot start or cannot pin memory: the `RioUnavailable` errors of its
 * set-up, and the locked-memory advice that those and registration errors give. The messages
 * say what went wrong and what to do.
 *
 * @internal
 */
import * as RioError from "@effect-rio/core/RioError"
import * as fs from "node:fs"
import * as Libc from "./libc.js"
import { IORING_MAX_REG_BUFFERS } from "./uring.js"
import { readVmPinKiB } from "./vmpin.js"

const { Codes } = RioError
const { Errno } = Libc

/** The Winsock-style code of an errno that has no Winsock error of its own. */
const errnoCode = (errno: number): number => 10000 + errno

/** The `operation` of every error of the driver's own steps. */
export const Operations = {
  setup: "io_uring_setup",
  table: "io_uring_register (IORING_REGISTER_BUFFERS2, sparse table)",
  register: "RIORegisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)",
  deregister: "RIODeregisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)",
  allocate: "allocate (mmap)"
} as const

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
export const memlockAdvice = (libc: Libc.Libc): string =>
  `The locked-memory limit RLIMIT_MEMLOCK is ${memlockLimit(libc)} (\`ulimit -l\`); io_uring charges it per user, ` +
  `across all of that user's rings, the rings' own pages included (this process pins ${vmPin()} now, VmPin), ` +
  "unless the process has CAP_IPC_LOCK. It may also be the kernel running out of memory. Register less (one " +
  "pooled registration instead of many), or raise the limit: `ulimit -l <KiB>` in the shell that starts the " +
  "process, a `memlock` line in /etc/security/limits.conf, or LimitMEMLOCK= in the systemd unit."
