/**
 * The one table from Winsock codes (RIORESULT.Status, WSAGetLastError) to the typed errors
 * of socket operations.
 *
 * @internal
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"

type Make = (input: { operation: string; message: string; cause: { lastError: number } }) => NetDriverError

const table: ReadonlyMap<number, readonly [Make, string]> = new Map<number, readonly [Make, string]>([
  [10061, [(i) => new RioError.WSAECONNREFUSED(i), "nothing listens at that address"]],
  [10054, [(i) => new RioError.WSAECONNRESET(i), "the peer reset the connection"]],
  [10052, [(i) => new RioError.WSAECONNRESET(i), "the connection was reset by the network"]],
  [10057, [(i) => new RioError.WSAECONNRESET(i), "the socket is not connected"]],
  [10053, [(i) => new RioError.WSAECONNABORTED(i), "the connection was aborted"]],
  // closesocket ends the socket's outstanding requests with this Win32 code.
  [995, [(i) => new RioError.WSAECONNABORTED(i), "the operation was aborted (its socket was closed)"]],
  [10048, [(i) => new RioError.WSAEADDRINUSE(i), "that address and port are already bound"]],
  [10049, [(i) => new RioError.WSAEADDRNOTAVAIL(i), "that address is not available here"]],
  [10051, [(i) => new RioError.WSAEADDRNOTAVAIL(i), "the network is unreachable"]],
  [10065, [(i) => new RioError.WSAEADDRNOTAVAIL(i), "the host is unreachable"]],
  [10040, [(i) => new RioError.WSAEMSGSIZE(i), "the datagram is too large"]],
  [10058, [(i) => new RioError.WSAESHUTDOWN(i), "this side was shut down"]],
  [10060, [(i) => new RioError.WSAETIMEDOUT(i), "the connection timed out"]],
  [10055, [(i) => new RioError.WSAENOBUFS(i), "the system is out of buffer space or queue entries"]],
  [10022, [(i) => new RioError.WSAEINVAL(i), "Winsock refused an argument"]],
  [10014, [(i) => new RioError.WSAEFAULT(i), "Winsock refused the memory"]]
])

/** The typed error for Winsock code `code` from `operation`. */
export const fromCode = (code: number, operation: string): NetDriverError => {
  const cause = { lastError: code }
  const known = table.get(code)
  if (known !== undefined) {
    const [make, what] = known
    return make({ operation, message: `${operation}: ${what} (Winsock error ${code}).`, cause })
  }
  return new RioError.RioSystemError({
    code,
    operation,
    message: `${operation} failed with Winsock error ${code}.`,
    cause
  })
}
