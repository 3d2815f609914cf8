/**
 * The identifier of a live registration: the `RIO_BUFFERID` of Winsock, the slot of
 * io_uring's registered-buffer table.
 *
 * @since 0.1.0
 */
import type * as Brand from "effect/Brand"

/**
 * A registration's id: a small integer, unique among the live registrations of a backend.
 *
 * @since 0.1.0
 * @category models
 */
export type BufferId = number & Brand.Brand<"@effect-rio/core/BufferId">

/**
 * Brands a number as a `BufferId`. For backends; users get ids from registrations.
 *
 * @since 0.1.0
 * @category constructors
 */
export const unsafeMake = (id: number): BufferId => id as BufferId
