/**
 * The few libc entry points the io_uring backend needs, bound through Koffi. Nothing is
 * loaded at import time, so importing this module on Windows or macOS is harmless; the
 * first `load()` opens libc.so.6.
 */
import koffi from "koffi"

/** `io_uring_setup(2)`. The same number on x86_64 and every asm-generic arch (aarch64, riscv64, loong64). */
export const SYS_io_uring_setup = 425
/** `io_uring_enter(2)`. */
export const SYS_io_uring_enter = 426
/** `io_uring_register(2)`. */
export const SYS_io_uring_register = 427

export const PROT_READ = 0x1
export const PROT_WRITE = 0x2
export const MAP_PRIVATE = 0x02
export const MAP_SHARED = 0x01
export const MAP_ANONYMOUS = 0x20
export const MAP_POPULATE = 0x8000
export const AF_INET = 2
export const AF_INET6 = 10
export const SOCK_STREAM = 1
export const SOCK_DGRAM = 2
export const SOCK_CLOEXEC = 0x80000
export const SOL_SOCKET = 1
export const SO_REUSEADDR = 2
export const EFD_NONBLOCK = 0x800
export const EFD_CLOEXEC = 0x80000
export const IPPROTO_TCP = 6
export const TCP_NODELAY = 1
export const IPPROTO_IPV6 = 41
export const IPV6_V6ONLY = 26
export const MADV_DONTNEED = 4
export const MADV_NOHUGEPAGE = 15
export const RLIMIT_MEMLOCK = 8
export const _SC_PAGESIZE = 30
/** `(rlim_t)-1`. */
export const RLIM_INFINITY = 0xFFFF_FFFF_FFFF_FFFFn
/** `(void *)-1`, mmap's failure value. */
export const MAP_FAILED = 0xFFFF_FFFF_FFFF_FFFFn

/** errno values the backend distinguishes (Linux generic numbering, shared by x86_64 and aarch64). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ENXIO: 6,
  EBADF: 9,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  EAGAIN: 11,
  EINTR: 4,
  EPIPE: 32,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  ENOPROTOOPT: 92,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  ECANCELED: 125
} as const

/**
 * Koffi accepts a BigInt address, a Buffer/typed array (its data pointer, byteOffset
 * included) or null wherever C wants a pointer.
 */
export type Pointer = bigint | ArrayBufferView | null

export interface Libc {
  /** Returns the ring fd, or -1 with errno set. */
  readonly ioUringSetup: (entries: number, params: Pointer) => number
  /** Returns the kernel's non-negative result, or -1 with errno set. */
  readonly ioUringRegister: (fd: number, opcode: number, arg: Pointer, nrArgs: number) => number
  readonly close: (fd: number) => number
  /** Returns the address, or `MAP_FAILED` with errno set. */
  readonly mmap: (length: number, prot: number, flags: number) => bigint
  /** Maps `length` bytes of `fd` at `offset` (an io_uring's rings); `MAP_FAILED` with errno set. */
  readonly mmapFile: (length: number, prot: number, flags: number, fd: number, offset: number) => bigint
  readonly munmap: (address: bigint, length: number) => number
  /** `io_uring_enter(2)` without a signal mask: the count submitted, or -1 with errno set. */
  readonly ioUringEnter: (fd: number, toSubmit: number, minComplete: number, flags: number) => number
  /**
   * The same call on one of Koffi's worker threads, for waiting: the event loop never blocks
   * while the kernel has nothing to report.
   */
  readonly ioUringEnterAsync: (
    fd: number,
    toSubmit: number,
    minComplete: number,
    flags: number,
    done: (result: number) => void
  ) => void
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly bind: (fd: number, address: Pointer, length: number) => number
  readonly listen: (fd: number, backlog: number) => number
  /** A blocking connect(2): for UDP sockets only, whose connect returns at once. */
  readonly connect: (fd: number, address: Pointer, length: number) => number
  /** `address` must have room for `length[0]` bytes; the kernel writes the real length back. */
  readonly getsockname: (fd: number, address: Pointer, length: Uint32Array) => number
  readonly setsockoptInt: (fd: number, level: number, name: number, value: number) => number
  /** An option whose value is a structure (`value`'s bytes). */
  readonly setsockopt: (fd: number, level: number, name: number, value: Uint8Array) => number
  /** An int option's value, or -1 with errno set (an option's value is never negative here). */
  readonly getsockoptInt: (fd: number, level: number, name: number) => number
  readonly shutdown: (fd: number, how: number) => number
  /** A non-blocking, close-on-exec eventfd, or -1 with errno set. */
  readonly eventfd: () => number
  readonly madvise: (address: bigint, length: number, advice: number) => number
  /** The soft limit, `RLIM_INFINITY` when unlimited, or `undefined` if the call fails. */
  readonly memlockSoftLimit: () => bigint | undefined
  readonly pageSize: () => number
  /** errno of the last failed call; Koffi saves it right after the native call returns. */
  readonly errno: () => number
}

let cached: Libc | undefined

/**
 * Binds libc. Throws if the library or a symbol is missing (musl systems without a
 * glibc-compatible libc.so.6); the driver turns that into `RioUnavailable`.
 */
export const load = (): Libc => {
  if (cached !== undefined) return cached
  const lib = koffi.load("libc.so.6")
  // `long syscall(long, ...)` is variadic, but on the LP64 ABIs we support (x86_64 SysV and
  // AAPCS64 on Linux) variadic integer and pointer arguments travel in the same registers as
  // fixed ones, so fixed-arity prototypes are exact and avoid Koffi's per-call variadic typing.
  const syscall2 = lib.func("syscall", "int64", ["int64", "int64", "void *"])
  const syscall4 = lib.func("syscall", "int64", ["int64", "int64", "int64", "void *", "int64"])
  const syscall6 = lib.func("syscall", "int64", ["int64", "int64", "int64", "int64", "int64", "void *", "int64"])
  const close = lib.func("close", "int32", ["int32"])
  const mmap = lib.func("mmap", "void *", ["void *", "uint64", "int32", "int32", "int32", "int64"])
  const munmap = lib.func("munmap", "int32", ["void *", "uint64"])
  const madvise = lib.func("madvise", "int32", ["void *", "uint64", "int32"])
  const getrlimit = lib.func("getrlimit", "int32", ["int32", "void *"])
  const sysconf = lib.func("sysconf", "int64", ["int32"])
  const socket = lib.func("socket", "int32", ["int32", "int32", "int32"])
  const bind = lib.func("bind", "int32", ["int32", "void *", "uint32"])
  const listen = lib.func("listen", "int32", ["int32", "int32"])
  const connect = lib.func("connect", "int32", ["int32", "void *", "uint32"])
  const getsockname = lib.func("getsockname", "int32", ["int32", "void *", "void *"])
  const setsockopt = lib.func("setsockopt", "int32", ["int32", "int32", "int32", "void *", "uint32"])
  const getsockopt = lib.func("getsockopt", "int32", ["int32", "int32", "int32", "void *", "void *"])
  const shutdown = lib.func("shutdown", "int32", ["int32", "int32"])
  const eventfd = lib.func("eventfd", "int32", ["uint32", "int32"])
  const option = new Int32Array(1)
  const optionLength = new Uint32Array(1)
  const rlimit = new BigUint64Array(2)
  cached = {
    ioUringSetup: (entries, params) => Number(syscall2(SYS_io_uring_setup, entries, params)),
    ioUringRegister: (fd, opcode, arg, nrArgs) => Number(syscall4(SYS_io_uring_register, fd, opcode, arg, nrArgs)),
    close: (fd) => close(fd),
    mmap: (length, prot, flags) => {
      const address: bigint | null = mmap(null, length, prot, flags, -1, 0)
      return address ?? MAP_FAILED
    },
    mmapFile: (length, prot, flags, fd, offset) => {
      const address: bigint | null = mmap(null, length, prot, flags, fd, offset)
      return address ?? MAP_FAILED
    },
    munmap: (address, length) => munmap(address, length),
    ioUringEnter: (fd, toSubmit, minComplete, flags) =>
      Number(syscall6(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, null, 0)),
    ioUringEnterAsync: (fd, toSubmit, minComplete, flags, done) =>
      syscall6.async(
        SYS_io_uring_enter,
        fd,
        toSubmit,
        minComplete,
        flags,
        null,
        0,
        (error: unknown, result: bigint | number) => done(error === null || error === undefined ? Number(result) : -1)
      ),
    socket: (domain, type, protocol) => socket(domain, type, protocol),
    bind: (fd, address, length) => bind(fd, address, length),
    listen: (fd, backlog) => listen(fd, backlog),
    connect: (fd, address, length) => connect(fd, address, length),
    getsockname: (fd, address, length) => getsockname(fd, address, length),
    setsockoptInt: (fd, level, name, value) => {
      option[0] = value
      return setsockopt(fd, level, name, option, 4)
    },
    setsockopt: (fd, level, name, value) => setsockopt(fd, level, name, value, value.byteLength),
    getsockoptInt: (fd, level, name) => {
      option[0] = 0
      optionLength[0] = 4
      return getsockopt(fd, level, name, option, optionLength) < 0 ? -1 : option[0]!
    },
    shutdown: (fd, how) => shutdown(fd, how),
    eventfd: () => eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
    madvise: (address, length, advice) => madvise(address, length, advice),
    memlockSoftLimit: () => getrlimit(RLIMIT_MEMLOCK, rlimit) === 0 ? rlimit[0] : undefined,
    pageSize: () => Number(sysconf(_SC_PAGESIZE)),
    errno: () => koffi.errno()
  }
  return cached
}
