/**
 * Registered I/O for Effect: the contract, the scoped registration, BufferPool and RegisteredSocket.
 *
 * @since 0.1.0
 */

/**
 * A registration's id.
 *
 * @since 0.1.0
 */
export * as BufferId from "./BufferId.js"

/**
 * What a backend implements: synchronous native calls, including its sockets.
 *
 * @since 0.1.0
 */
export * as Driver from "./Driver.js"

/**
 * Lowest-free-first ids, as RIO and io_uring hand out buffer ids: a helper for backends.
 *
 * @since 0.2.0
 */
export * as IdAllocator from "./IdAllocator.js"

/**
 * The backend service and the scoped registration.
 *
 * @since 0.1.0
 */
export * as RegisteredIo from "./RegisteredIo.js"

/**
 * Validated slices of a registration (RIO_BUF).
 *
 * @since 0.1.0
 */
export * as RioBuf from "./RioBuf.js"

/**
 * Typed errors, one per Winsock code.
 *
 * @since 0.1.0
 */
export * as RioError from "./RioError.js"

/**
 * The typed error of a native code, for backends: each Winsock code (Linux errnos are
 * translated to them first) becomes its own `RioError` class, any other `RioSystemError`.
 *
 * @since 0.2.0
 */
export * as CodedError from "./CodedError.js"

/**
 * One registration cut into leased slots.
 *
 * @since 0.1.0
 */
export * as BufferPool from "./BufferPool.js"

/**
 * UDP and TCP sockets that send and receive from registered slices.
 *
 * @since 0.2.0
 */
export * as RegisteredSocket from "./RegisteredSocket.js"

/**
 * The options of RegisteredSocket's constructors.
 *
 * @since 0.2.0
 */
export * as SocketOptions from "./SocketOptions.js"
/**
 * Effect `Stream` and `Sink` views of registered sockets.
 *
 * @since 0.2.0
 */
export * as SocketStreams from "./SocketStreams.js"
