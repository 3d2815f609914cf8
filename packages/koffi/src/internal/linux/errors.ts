/**
 * The errors of the Linux driver's registrations, allocations and sockets (its set-up errors
 * are in `unavailable.ts`), and the one table from errno to the typed errors of socket
 * operations (10000 + errno where Winsock has the same error, as the Winsock
 * numbering was built that way). The messages say what went wrong and what to do; the other
 * modules only pick which one.
 *
 * @internal
 */
import * as CodedError from "@effect-rio/core/CodedError"
import type { NetDriverError } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import * as Libc from "./libc.js"
import { memlockAdvice, Operations } from "./unavailable.js"
import { IORING_MAX_REG_BUFFERS, MAX_BUFFER_LENGTH } from "./uring.js"

const { Codes } = RioError
const { Errno } = Libc

/** The Winsock-style code of an errno that has no Winsock error of its own. */
const errnoCode = (errno: number): number => 10000 + errno

/** Surfaces in the core's WSAEINVAL when a registration exceeds `maxBufferLength`. */
export const maxBufferLengthReason = "io_uring limits one registered buffer to 1 GiB; Windows RIO does not"

// --- registrations -----------------------------------------------------------------------------

/** The io_uring is closed: its layer's scope has ended. */
export const closed = (operation: string) =>
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
    [Errno.EAFNOSUPPORT, [Codes.WSAEAFNOSUPPORT, "this socket cannot use an address of that family"]],
    [Errno.ESHUTDOWN, [Codes.WSAESHUTDOWN, "this side was shut down"]],
    [Errno.ETIMEDOUT, [Codes.WSAETIMEDOUT, "the connection timed out"]],
    [Errno.ENOBUFS, [Codes.WSAENOBUFS, "the kernel is out of buffer space"]],
    [Errno.ENOMEM, [Codes.WSAENOBUFS, "the kernel is out of memory"]],
    [Errno.EINVAL, [Codes.WSAEINVAL, "the kernel refused an argument"]],
    [Errno.EFAULT, [Codes.WSAEFAULT, "the kernel refused the memory"]],
    [Errno.ENOTCONN, [Codes.WSAENOTCONN, "the socket is not connected (any more): close it"]],
    [Errno.ENETUNREACH, [Codes.WSAENETUNREACH, "the network is unreachable (check the address and routes)"]],
    [Errno.EHOSTUNREACH, [Codes.WSAEHOSTUNREACH, "the host is unreachable (check the address)"]],
    [Errno.EACCES, [Codes.WSAEACCES, "permission denied (a port below 1024, or a broadcast address)"]],
    [Errno.EPERM, [Codes.WSAEACCES, "the operation is not permitted (a firewall rule?)"]],
    [Errno.EMFILE, [Codes.WSAEMFILE, "this process is out of file descriptors (raise `ulimit -n`)"]],
    [Errno.ENFILE, [Codes.WSAEMFILE, "the system is out of file descriptors"]],
    [Errno.ENOPROTOOPT, [Codes.WSAENOPROTOOPT, "this socket has no such option"]]
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
    : CodedError.fromCode(known[0], { operation, message: `${operation}: ${known[1]} (errno ${errno}).`, cause })
}

// --- receive rings ---------------------------------------------------------------------------

const ringOperation = "receiveMany (multishot RECVMSG into provided buffers)"

/** The operation named by the errors of a receive ring's multishot receive. */
export const receiveRingOperation = ringOperation

/** The operation named by the errors of a TCP stream's multishot receive into shared slots. */
export const streamRingOperation = "receiveMany (multishot RECV into provided buffers)"

/** `host:port`, or `[host]:port` for IPv6. */
const show = (address: SocketAddress): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`

/** A datagram from `sender` of `length` bytes did not fit a receive ring's slot of `room` bytes. */
export const datagramTooLarge = (sender: SocketAddress, length: number, room: number): RioError.WSAEMSGSIZE => {
  return new RioError.WSAEMSGSIZE({
    operation: ringOperation,
    message: `A datagram of ${length} bytes from ${show(sender)} does not fit the receive ring's ${room}-byte slots: ` +
      `its first ${room} bytes landed in the slot and the rest is lost. Make the socket's receiveRing.slotSize ` +
      "at least the largest datagram you expect.",
    address: sender,
    size: length,
    cause: { length, sender, slotSize: room }
  })
}

/** Every buffer-group id of the ring is taken by an open receive ring or set of stream slots. */
export const noBufferGroup = (operation: string, groups: number): RioError.WSAENOBUFS =>
  new RioError.WSAENOBUFS({
    operation,
    message: `All ${groups} provided-buffer groups of this io_uring are taken (one per UDP receive ring and one ` +
      "per TCP receive ring). Close sockets and listeners that no longer receive, or receive without a ring.",
    cause: { groups }
  })

/**
 * The provided-buffer ring of `entries` entries for the operation `receiving` could not be set
 * up: its memory (`mmap`) or its registration (IORING_REGISTER_PBUF_RING) failed with `errno`.
 */
export const bufferRingFailed = (
  libc: Libc.Libc,
  receiving: string,
  stage: "mmap" | "IORING_REGISTER_PBUF_RING",
  errno: number,
  entries: number
): NetDriverError => {
  const operation = `${receiving} (${stage})`
  const cause = { errno }
  if (errno === Errno.ENOMEM) {
    return new RioError.WSAENOBUFS({
      operation,
      message: `The kernel could not set up a provided-buffer ring of ${entries} entries (ENOMEM). ` +
        memlockAdvice(libc),
      cause
    })
  }
  return new RioError.RioSystemError({
    code: errnoCode(errno),
    operation,
    message: `Setting up a provided-buffer ring of ${entries} entries failed with errno ${errno} at ${stage}.`,
    cause
  })
}

/** A datagram of `length` bytes from `sender` arrived in a slice of `room`. */
export const truncated = (length: number, room: number, sender: SocketAddress): NetDriverError =>
  new RioError.WSAEMSGSIZE({
    operation: "receiveFrom",
    message: `A datagram of ${length} bytes from ${show(sender)} does not fit the ${room}-byte slice: its first ` +
      `${room} bytes landed in the slice and the rest is lost. Receive into larger slices.`,
    address: sender,
    size: length,
    cause: { length }
  })
