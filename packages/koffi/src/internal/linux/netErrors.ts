/**
 * The one table from Linux errno to the typed Winsock errors of socket operations (10000 +
 * errno where Winsock has the same error, as the Winsock numbering was built that way).
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import { Errno } from "./libc.js"

type Make = (input: { operation: string; message: string; cause: { errno: number } }) => NetDriverError

const table: ReadonlyMap<number, readonly [Make, string]> = new Map<number, readonly [Make, string]>([
  [Errno.ECONNREFUSED, [(i) => new RioError.WSAECONNREFUSED(i), "nothing listens at that address"]],
  [Errno.ECONNRESET, [(i) => new RioError.WSAECONNRESET(i), "the peer reset the connection"]],
  // A send after the peer went away: Winsock reports the reset.
  [Errno.EPIPE, [(i) => new RioError.WSAECONNRESET(i), "the connection is gone (the peer closed or reset it)"]],
  [Errno.ECONNABORTED, [(i) => new RioError.WSAECONNABORTED(i), "the connection was aborted"]],
  [Errno.ECANCELED, [(i) => new RioError.WSAECONNABORTED(i), "the operation was cancelled"]],
  [Errno.EADDRINUSE, [(i) => new RioError.WSAEADDRINUSE(i), "that address and port are already bound"]],
  [Errno.EADDRNOTAVAIL, [(i) => new RioError.WSAEADDRNOTAVAIL(i), "that address is not available here"]],
  [Errno.EMSGSIZE, [(i) => new RioError.WSAEMSGSIZE(i), "the datagram is too large"]],
  [Errno.ESHUTDOWN, [(i) => new RioError.WSAESHUTDOWN(i), "this side was shut down"]],
  [Errno.ETIMEDOUT, [(i) => new RioError.WSAETIMEDOUT(i), "the connection timed out"]],
  [Errno.ENOBUFS, [(i) => new RioError.WSAENOBUFS(i), "the kernel is out of buffer space"]],
  [Errno.ENOMEM, [(i) => new RioError.WSAENOBUFS(i), "the kernel is out of memory"]],
  [Errno.EINVAL, [(i) => new RioError.WSAEINVAL(i), "the kernel refused an argument"]],
  [Errno.EFAULT, [(i) => new RioError.WSAEFAULT(i), "the kernel refused the memory"]],
  [Errno.ENOTCONN, [(i) => new RioError.WSAECONNRESET(i), "the socket is not connected"]],
  [Errno.ENETUNREACH, [(i) => new RioError.WSAEADDRNOTAVAIL(i), "the network is unreachable"]],
  [Errno.EHOSTUNREACH, [(i) => new RioError.WSAEADDRNOTAVAIL(i), "the host is unreachable"]]
])

/** The typed error for `errno` from `operation`. */
export const fromErrno = (errno: number, operation: string): NetDriverError => {
  const cause = { errno }
  const known = table.get(errno)
  if (known !== undefined) {
    const [make, what] = known
    return make({ operation, message: `${operation}: ${what} (errno ${errno}).`, cause })
  }
  return new RioError.RioSystemError({
    code: 10000 + errno,
    operation,
    message: `${operation} failed with errno ${errno}.`,
    cause
  })
}
