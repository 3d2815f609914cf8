/**
 * `RioBuf`: a validated slice of a registration, the `RIO_BUF` of the C API
 * (buffer id, offset, length) that send and receive operations take.
 *
 * @since 0.1.0
 */
import type { BufferId } from "./BufferId.js"
import * as RioError from "./RioError.js"

/**
 * A slice of a registration: the registration's id, an offset into it and a length.
 *
 * @since 0.1.0
 * @category models
 */
export interface RioBuf {
  readonly bufferId: BufferId
  readonly offset: number
  readonly length: number
}

/**
 * What a slice is checked against: the id and size of a live registration.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bounds {
  readonly id: BufferId
  readonly byteLength: number
}

/**
 * Checks `offset`/`length` against a registration and returns the slice or the
 * `WSAEINVAL` that says why not. Never clamps: a slice that does not fit is refused.
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (bounds: Bounds, offset: number, length: number): RioBuf | RioError.WSAEINVAL => {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    return invalid(`offset ${String(offset)} is not a non-negative integer`)
  }
  if (!Number.isSafeInteger(length) || length <= 0) {
    return invalid(`length ${String(length)} is not a positive integer (a RIO_BUF cannot be empty)`)
  }
  if (offset + length > bounds.byteLength) {
    return invalid(
      `slice [${offset}, ${offset + length}) is outside registration ${bounds.id} of ${bounds.byteLength} bytes`
    )
  }
  return { bufferId: bounds.id, offset, length }
}

const invalid = (why: string) =>
  new RioError.WSAEINVAL({
    operation: "RioBuf",
    message: `Invalid RIO_BUF: ${why}. Slice within the registered range.`
  })
