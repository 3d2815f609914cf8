/**
 * Typed errors of registered I/O, one class per Winsock code so that
 * `Effect.catchTag("WSAEFAULT", ...)` reads like the RIO documentation.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The fields every registered I/O error carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface RioErrorFields {
  /** The Winsock code (errno-derived on Linux by the Winsock rule, 10000 + errno). */
  readonly code: number
  /** The operation that failed, for example `"RIORegisterBuffer"`. */
  readonly operation: string
  /** What went wrong and what to do about it. */
  readonly message: string
  /** The native cause when there is one: `{ errno }` on Linux, `{ lastError }` on Windows. */
  readonly cause?: unknown
}

/**
 * What an error's constructor takes: its code is the class's own unless given.
 *
 * @since 0.2.0
 * @category models
 */
export type Input = Omit<RioErrorFields, "code"> & { readonly code?: number }

/**
 * `WSAEFAULT` (10014): the memory given is not usable — no memory, a detached
 * `ArrayBuffer`, a range beyond the memory, or an address the system rejects.
 *
 * @since 0.1.0
 * @category errors
 */
export class WSAEFAULT extends Data.TaggedError("WSAEFAULT")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10014 })
  }
}

/**
 * `WSAEINVAL` (10022): an argument is invalid — a zero or non-integral length, a
 * length the C type cannot hold, a slice out of range, an unknown buffer id.
 *
 * @since 0.1.0
 * @category errors
 */
export class WSAEINVAL extends Data.TaggedError("WSAEINVAL")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10022 })
  }
}

/**
 * `WSAENOBUFS` (10055): the system is out of the resource needed — locked-memory
 * limit, registration table slots, or kernel memory.
 *
 * @since 0.1.0
 * @category errors
 */
export class WSAENOBUFS extends Data.TaggedError("WSAENOBUFS")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10055 })
  }
}

/**
 * `WSAETIMEDOUT` (10060): a wait with a bound ran out — for example a release that gave up
 * waiting for outstanding I/O or leases (the registration then stays pinned).
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAETIMEDOUT extends Data.TaggedError("WSAETIMEDOUT")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10060 })
  }
}

/**
 * What a `WSAEMSGSIZE` knows of the datagram, so that a server can log who sent what.
 *
 * @since 0.2.0
 * @category models
 */
export interface DatagramFields {
  /** The sender of a datagram that did not fit (receives; every backend reports it). */
  readonly address?: { readonly host: string; readonly port: number }
  /**
   * The datagram's whole size in bytes, where the backend learns it: io_uring and the double do;
   * Winsock RIO reports only the bytes that fit.
   */
  readonly size?: number
}

/**
 * `WSAEMSGSIZE` (10040): a datagram did not fit the slice it was received into (the rest of
 * it is lost, as with RIOReceiveEx), or one to send is larger than the protocol allows.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEMSGSIZE extends Data.TaggedError("WSAEMSGSIZE")<RioErrorFields & DatagramFields> {
  constructor(input: Input & DatagramFields) {
    super({ ...input, code: input.code ?? 10040 })
  }
}

/**
 * `WSAEAFNOSUPPORT` (10047): an address of a family the socket cannot use — an IPv6 peer for a
 * socket bound to an IPv4 address. Bind to `"::"` (dual stack) to reach both.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEAFNOSUPPORT extends Data.TaggedError("WSAEAFNOSUPPORT")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10047 })
  }
}

/**
 * `WSAEADDRINUSE` (10048): the local address (host and port) is already bound by another socket.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEADDRINUSE extends Data.TaggedError("WSAEADDRINUSE")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10048 })
  }
}

/**
 * `WSAEADDRNOTAVAIL` (10049): the host is not an address of this machine (bind) or not a
 * usable peer address (connect, send).
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEADDRNOTAVAIL extends Data.TaggedError("WSAEADDRNOTAVAIL")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10049 })
  }
}

/**
 * `WSAECONNABORTED` (10053): the operation was aborted because its socket was closed (the
 * socket's scope ended while it was outstanding).
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAECONNABORTED extends Data.TaggedError("WSAECONNABORTED")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10053 })
  }
}

/**
 * `WSAECONNRESET` (10054): the peer reset the connection (or, for UDP, a previous datagram
 * was refused by the peer's host).
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAECONNRESET extends Data.TaggedError("WSAECONNRESET")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10054 })
  }
}

/**
 * `WSAESHUTDOWN` (10058): sending after `shutdown` closed this side for writing.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAESHUTDOWN extends Data.TaggedError("WSAESHUTDOWN")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10058 })
  }
}

/**
 * `WSAECONNREFUSED` (10061): nothing listens at the peer's address.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAECONNREFUSED extends Data.TaggedError("WSAECONNREFUSED")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10061 })
  }
}

/**
 * `WSAENOTCONN` (10057): the socket is not connected — an operation that needs a connection on
 * one that has none any more. Nothing more can move on it: close it (and reconnect if need be).
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAENOTCONN extends Data.TaggedError("WSAENOTCONN")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10057 })
  }
}

/**
 * `WSAENETUNREACH` (10051): no route to the peer's network. Check the address and the host's routes.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAENETUNREACH extends Data.TaggedError("WSAENETUNREACH")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10051 })
  }
}

/**
 * `WSAEHOSTUNREACH` (10065): the peer's host cannot be reached (no route, or the host does not
 * answer on its network). Check the address; retrying later may succeed.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEHOSTUNREACH extends Data.TaggedError("WSAEHOSTUNREACH")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10065 })
  }
}

/**
 * `WSAEACCES` (10013): the system denied it: a port below 1024 without the privilege, a
 * broadcast address without the broadcast option, or a firewall rule.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEACCES extends Data.TaggedError("WSAEACCES")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10013 })
  }
}

/**
 * `WSAEMFILE` (10024): this process is out of file descriptors (sockets). Close unused ones
 * or raise the limit (`ulimit -n` on Linux).
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAEMFILE extends Data.TaggedError("WSAEMFILE")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10024 })
  }
}

/**
 * `WSAENOPROTOOPT` (10042): a socket option this platform or protocol does not have (for
 * example `reusePort` on Windows): refused, never silently ignored.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAENOPROTOOPT extends Data.TaggedError("WSAENOPROTOOPT")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 10042 })
  }
}

/**
 * `WSAHOST_NOT_FOUND` (11001): the name does not resolve — no such host, or the resolver
 * cannot be reached. The message names the host and the resolver's own code.
 *
 * @since 0.2.0
 * @category errors
 */
export class WSAHOST_NOT_FOUND extends Data.TaggedError("WSAHOST_NOT_FOUND")<RioErrorFields> {
  constructor(input: Input) {
    super({ ...input, code: input.code ?? 11001 })
  }
}

/**
 * The platform or kernel lacks registered I/O (for example WSAEOPNOTSUPP 10045 from
 * Winsock, or io_uring disabled on Linux). `code` is the native code when known.
 *
 * @since 0.1.0
 * @category errors
 */
export class RioUnavailable extends Data.TaggedError("RioUnavailable")<RioErrorFields> {}

/**
 * A native failure that has no dedicated class: `code` holds the Winsock code as
 * reported, so nothing is lost and nothing crashes.
 *
 * @since 0.1.0
 * @category errors
 */
export class RioSystemError extends Data.TaggedError("RioSystemError")<RioErrorFields> {}

/**
 * Any error of registered I/O.
 *
 * @since 0.1.0
 * @category models
 */
export type RioError =
  | WSAEFAULT
  | WSAEINVAL
  | WSAENOBUFS
  | WSAETIMEDOUT
  | NetworkError
  | RioUnavailable
  | RioSystemError

/**
 * The errors of socket operations beyond bad arguments: what a peer, the network or the
 * socket's own state can cause.
 *
 * @since 0.2.0
 * @category models
 */
export type NetworkError =
  | WSAEMSGSIZE
  | WSAEAFNOSUPPORT
  | WSAEADDRINUSE
  | WSAEADDRNOTAVAIL
  | WSAECONNABORTED
  | WSAECONNRESET
  | WSAESHUTDOWN
  | WSAECONNREFUSED
  | WSAENOTCONN
  | WSAENETUNREACH
  | WSAEHOSTUNREACH
  | WSAEACCES
  | WSAEMFILE
  | WSAENOPROTOOPT
  | WSAHOST_NOT_FOUND

/**
 * The errors a registration can fail with: the three that RIORegisterBuffer documents,
 * and `RioSystemError` for any other code a provider reports (kept, never crashed on).
 *
 * @since 0.1.0
 * @category models
 */
export type RegisterError = WSAEFAULT | WSAEINVAL | WSAENOBUFS | RioSystemError

/**
 * Winsock codes by name.
 *
 * @since 0.1.0
 * @category constants
 */
export const Codes = {
  WSAEACCES: 10013,
  WSAEFAULT: 10014,
  WSAEMFILE: 10024,
  WSAEINVAL: 10022,
  WSAENOPROTOOPT: 10042,
  WSAEOPNOTSUPP: 10045,
  WSAEMSGSIZE: 10040,
  WSAEAFNOSUPPORT: 10047,
  WSAEADDRINUSE: 10048,
  WSAEADDRNOTAVAIL: 10049,
  WSAECONNABORTED: 10053,
  WSAENETUNREACH: 10051,
  WSAECONNRESET: 10054,
  WSAENOBUFS: 10055,
  WSAENOTCONN: 10057,
  WSAESHUTDOWN: 10058,
  WSAETIMEDOUT: 10060,
  WSAECONNREFUSED: 10061,
  WSAEHOSTUNREACH: 10065,
  WSAHOST_NOT_FOUND: 11001
} as const
