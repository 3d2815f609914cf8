/**
 * Every error the Windows driver reports, and the one table from native codes (RIORESULT
 * Status, WSAGetLastError, GetLastError) to the core's typed errors. The messages say what
 * went wrong and what to do; the other modules only pick which one.
 *
 * @internal
 */
import * as CodedError from "@effect-rio/core/CodedError"
import type { NetDriverError } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import * as Abi from "./abi.js"
import type { Failure, Native } from "./winsock.js"

const { Codes } = RioError

/** Native code → [the Winsock code whose error it becomes, what it means]. */
const codes: ReadonlyMap<number, readonly [winsock: number, meaning: string]> = new Map(
  [
    [10061, [Codes.WSAECONNREFUSED, "nothing listens at that address"]],
    [10054, [Codes.WSAECONNRESET, "the peer reset the connection"]],
    [10052, [Codes.WSAECONNRESET, "the connection was reset by the network"]],
    [10057, [Codes.WSAENOTCONN, "the socket is not connected (any more): close it"]],
    [10053, [Codes.WSAECONNABORTED, "the connection was aborted"]],
    // closesocket ends the socket's outstanding requests with this Win32 code.
    [995, [Codes.WSAECONNABORTED, "the operation was aborted (its socket was closed)"]],
    [10048, [Codes.WSAEADDRINUSE, "that address and port are already bound"]],
    [10049, [Codes.WSAEADDRNOTAVAIL, "that address is not available here"]],
    [10051, [Codes.WSAENETUNREACH, "the network is unreachable (check the address and routes)"]],
    [10065, [Codes.WSAEHOSTUNREACH, "the host is unreachable (check the address)"]],
    [10013, [Codes.WSAEACCES, "permission denied (a port below 1024, or a broadcast address)"]],
    [10024, [Codes.WSAEMFILE, "this process is out of sockets"]],
    [10042, [Codes.WSAENOPROTOOPT, "this socket has no such option"]],
    [10040, [Codes.WSAEMSGSIZE, "the datagram is too large"]],
    [10058, [Codes.WSAESHUTDOWN, "this side was shut down"]],
    [10060, [Codes.WSAETIMEDOUT, "the connection timed out"]],
    [10055, [Codes.WSAENOBUFS, "the system is out of buffer space or queue entries"]],
    [10022, [Codes.WSAEINVAL, "Winsock refused an argument"]],
    [10014, [Codes.WSAEFAULT, "Winsock refused the memory"]]
  ] as const
)

/** The typed error for native code `code` left by `call` (a native call or a socket operation). */
export const fromCode = (code: number, call: string): NetDriverError => {
  const cause = { lastError: code }
  const known = codes.get(code)
  return known === undefined
    ? CodedError.fromCode(code, { operation: call, message: `${call} failed with Winsock error ${code}.`, cause })
    : CodedError.fromCode(known[0], {
      operation: call,
      message: `${call}: ${known[1]} (Winsock error ${code}).`,
      cause
    })
}

/** The typed error for what `call` just left in WSAGetLastError. */
export const lastError = (ws: Native, call: string): NetDriverError => fromCode(ws.WSAGetLastError(), call)

// --- set-up ----------------------------------------------------------------------------------

const unavailableMessage = (failure: Failure): string => {
  const detail = failure.detail === undefined ? "" : ` (${failure.detail})`
  switch (failure.code) {
    case Abi.WSAEOPNOTSUPP:
      return `${failure.call}: this Winsock provider has no Registered I/O extension (WSAEOPNOTSUPP 10045)${detail}: ` +
        "RIO needs Windows 8 / Server 2012 or later; Wine does not implement it."
    case Abi.WSAVERNOTSUPPORTED:
      return `${failure.call}: Winsock 2.2 is not available (WSAVERNOTSUPPORTED 10092)${detail}.`
    default:
      return `${failure.call} failed with error ${failure.code}${detail}: the Winsock registered I/O ` +
        "extension could not be set up on this system."
  }
}

/** A set-up step that failed: the system cannot give this process RIO. */
export const unavailable = (failure: Failure): RioError.RioUnavailable =>
  new RioError.RioUnavailable({
    code: failure.code,
    operation: failure.call,
    message: unavailableMessage(failure),
    cause: { lastError: failure.code }
  })

/** Winsock RIO on another platform. */
export const notWindows = (platform: string): RioError.RioUnavailable =>
  new RioError.RioUnavailable({
    code: Abi.WSAEOPNOTSUPP,
    operation: "load",
    message: `Winsock Registered I/O needs Windows; this process runs on ${platform}.`
  })

/** ws2_32.dll or kernel32.dll would not load. */
export const notLoaded = (error: unknown): RioError.RioUnavailable =>
  new RioError.RioUnavailable({
    code: Abi.WSAEOPNOTSUPP,
    operation: "LoadLibrary(ws2_32.dll)",
    message: `ws2_32.dll or kernel32.dll could not be loaded: ${error instanceof Error ? error.message : error}`,
    cause: error
  })

// --- registrations -----------------------------------------------------------------------------

/** RIORegisterBuffer returned RIO_INVALID_BUFFERID and left `code`. */
export const registerFailed = (code: number, address: bigint, length: number): RioError.RegisterError => {
  const operation = "RIORegisterBuffer"
  const cause = { lastError: code }
  const range = `0x${address.toString(16)} (+${length} bytes)`
  switch (code) {
    case Abi.WSAEFAULT:
      return new RioError.WSAEFAULT({
        operation,
        message: `RIORegisterBuffer rejected ${range}: it is not committed, writable memory of this process.`,
        cause
      })
    case Abi.WSAEINVAL:
      return new RioError.WSAEINVAL({
        operation,
        message: `RIORegisterBuffer rejected ${range}: invalid parameter (a zero length?).`,
        cause
      })
    case Abi.WSAENOBUFS:
      return new RioError.WSAENOBUFS({
        operation,
        message: `RIORegisterBuffer could not lock ${range} (WSAENOBUFS): the system is out of registration ` +
          "resources (working-set quota or non-paged pool). Register fewer, larger buffers — a BufferPool " +
          "registers one allocation once — or raise the process working-set size (SetProcessWorkingSetSize).",
        cause
      })
    default:
      return new RioError.RioSystemError({
        code,
        operation,
        message: `RIORegisterBuffer failed for ${range} with Winsock error ${code}.`,
        cause
      })
  }
}

/** Every small buffer id is taken (RIO itself sets no such limit). */
export const outOfBufferIds = (capacity: number): RioError.WSAENOBUFS =>
  new RioError.WSAENOBUFS({
    operation: "RIORegisterBuffer",
    message: `All ${capacity} buffer ids of this Winsock driver are taken: deregister buffers you no longer use.`
  })

/** A BufferId this driver does not hold. */
export const notRegistered = (id: number): RioError.WSAEINVAL =>
  new RioError.WSAEINVAL({
    operation: "RIODeregisterBuffer",
    message: `Buffer id ${id} is not registered with this Winsock driver.`
  })

/**
 * What RIODeregisterBuffer left in WSAGetLastError (it returns nothing): WSAEINVAL means the
 * provider did not know the id, anything else is unexpected.
 */
export const deregisterFailed = (
  code: number,
  id: number,
  bufferId: bigint
): RioError.WSAEINVAL | RioError.RioSystemError => {
  const cause = { lastError: code, bufferId }
  if (code === Abi.WSAEINVAL) {
    return new RioError.WSAEINVAL({
      operation: "RIODeregisterBuffer",
      message: `RIODeregisterBuffer did not know the native id 0x${bufferId.toString(16)} behind buffer id ${id}: ` +
        "the registration was already gone.",
      cause
    })
  }
  return new RioError.RioSystemError({
    code,
    operation: "RIODeregisterBuffer",
    message: `RIODeregisterBuffer of buffer id ${id} left Winsock error ${code}.`,
    cause
  })
}

// --- memory ------------------------------------------------------------------------------------

/** VirtualAlloc of `size` bytes failed with Win32 error `code`. */
export const allocationFailed = (size: number, code: number): RioError.WSAENOBUFS | RioError.RioSystemError =>
  code === Abi.ERROR_NOT_ENOUGH_MEMORY || code === Abi.ERROR_COMMITMENT_LIMIT
    ? new RioError.WSAENOBUFS({
      operation: "VirtualAlloc",
      message:
        `VirtualAlloc could not commit ${size} bytes (Win32 error ${code}): the system commit limit is reached. ` +
        "Free unused buffers or allocate fewer, smaller ones.",
      cause: { lastError: code }
    })
    : new RioError.RioSystemError({
      code,
      operation: "VirtualAlloc",
      message: `VirtualAlloc of ${size} bytes failed with Win32 error ${code}.`,
      cause: { lastError: code }
    })

/** koffi.view refused to expose native memory. */
export const noExternalBuffers = (error: unknown): RioError.RioSystemError =>
  new RioError.RioSystemError({
    code: 0,
    operation: "koffi.view",
    message: "This runtime refuses external ArrayBuffers, so native memory cannot be exposed to JS.",
    cause: error
  })

// --- sockets -----------------------------------------------------------------------------------

/** An operation on a socket this driver no longer has. */
export const socketNotOpen = (): RioError.WSAEINVAL =>
  new RioError.WSAEINVAL({ operation: "RIO", message: "The socket is not open." })

/** An accept on a listener this driver no longer has. */
export const listenerNotOpen = (): RioError.WSAEINVAL =>
  new RioError.WSAEINVAL({ operation: "accept", message: "The listener is not open." })

/** The end of a cancelled operation. */
export const cancelled = (call: string): NetDriverError =>
  new RioError.WSAECONNABORTED({ operation: call, message: `${call}: the operation was cancelled.` })

/** An operation on a stream that an earlier cancellation closed (see `cancel.ts`). */
export const closedByCancel = (call: string): NetDriverError =>
  new RioError.WSAECONNABORTED({
    operation: call,
    message: `${call}: the stream was closed when one of its operations was cancelled.`
  })

/**
 * RIOReceiveEx's WSAEMSGSIZE: the datagram from `sender` was cut to the slice. RIO reports only
 * the bytes that fit, so the datagram's size is unknown here.
 */
export const truncated = (room: number, sender: SocketAddress): NetDriverError =>
  new RioError.WSAEMSGSIZE({
    operation: "receiveFrom (RIOReceiveEx)",
    message:
      `A datagram from ${
        sender.host.includes(":") ? `[${sender.host}]:${sender.port}` : `${sender.host}:${sender.port}`
      } did not fit the ${room}-byte slice: its first ${room} bytes landed in the slice and the rest is lost. ` +
      "Receive into larger slices.",
    address: sender,
    cause: { lastError: Codes.WSAEMSGSIZE }
  })

/** RIODequeueCompletion returned RIO_CORRUPT_CQ. */
export const corruptQueue = (lastError: number): NetDriverError =>
  new RioError.RioSystemError({
    code: Abi.RIO_CORRUPT_CQ,
    operation: "RIODequeueCompletion",
    message: "RIODequeueCompletion returned RIO_CORRUPT_CQ: the completion queue is corrupt or was used " +
      "concurrently. This is a bug; the layer's sockets cannot continue.",
    cause: { lastError }
  })
