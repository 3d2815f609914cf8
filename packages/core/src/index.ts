/**
 * @since 0.1.0
 */
export * as BufferId from "./BufferId.js"

/**
 * @since 0.1.0
 */
export * as Driver from "./Driver.js"

/**
 * @since 0.1.0
 */
export * as RegisteredIo from "./RegisteredIo.js"

/**
 * @since 0.1.0
 */
export * as RioBuf from "./RioBuf.js"

/**
 * @since 0.1.0
 */
export * as RioError from "./RioError.js"

/**
 * @since 0.1.0
 */
export * as BufferPool from "./BufferPool.js"

/**
 * @since 0.2.0
 */
export * as RegisteredSocket from "./RegisteredSocket.js"
