/**
 * Checks of what a registration is given, the same on every backend and before any native
 * call: lengths a DWORD can hold, memory that is attached and long enough.
 */
import type { NativeAddress } from "../RegisteredIo.js"
import * as RioError from "../RioError.js"

/** The C type of RIORegisterBuffer's DataLength: a DWORD. */
export const MAX_DWORD = 0xFFFFFFFF

export const isNativeAddress = (u: unknown): u is NativeAddress =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "NativeAddress"

/** Node 20's ArrayBuffer has no `detached` getter; a view over a detached buffer cannot be made. */
export const isDetached = (buffer: ArrayBufferLike): boolean => {
  if (buffer.byteLength !== 0) return false
  const detached = (buffer as { detached?: boolean }).detached
  if (detached !== undefined) return detached
  try {
    new Uint8Array(buffer, 0, 0)
    return false
  } catch {
    return true
  }
}

export const checkLength = (
  length: unknown,
  operation: string,
  max: number,
  limitNote: string
): RioError.WSAEINVAL | undefined => {
  if (typeof length !== "number" || !Number.isInteger(length) || length < 0) {
    return new RioError.WSAEINVAL({
      operation,
      message: `DataLength ${String(length)} is not a non-negative integer. Pass a whole number of bytes.`
    })
  }
  if (length === 0) {
    return new RioError.WSAEINVAL({
      operation,
      message: "DataLength is zero: a registration must cover at least one byte."
    })
  }
  if (length > MAX_DWORD) {
    return new RioError.WSAEINVAL({
      operation,
      message: `DataLength ${length} does not fit RIORegisterBuffer's DWORD (max ${MAX_DWORD}). Split the buffer.`
    })
  }
  if (length > max) {
    return new RioError.WSAEINVAL({
      operation,
      message: `DataLength ${length} exceeds this backend's limit of ${max} bytes per registration${limitNote}. ` +
        "Split the buffer into several registrations."
    })
  }
  return undefined
}

/**
 * The exact bytes a registration of `data` covers, or the error that says why there are
 * none. The same on every backend, and always before any native call.
 */
export const region = (
  data: unknown,
  length: number | undefined,
  operation: string,
  max: number,
  limitNote: string
): Uint8Array | RioError.WSAEFAULT | RioError.WSAEINVAL => {
  // The length's shape first, its backend's limit last: a length past the memory is WSAEFAULT on
  // every backend, whatever each one's limit.
  if (length !== undefined) {
    const bad = checkLength(length, operation, MAX_DWORD, "")
    if (bad !== undefined) return bad
  }
  let bytes: Uint8Array
  if (data instanceof Uint8Array) {
    bytes = data
  } else if (data instanceof ArrayBuffer) {
    if (isDetached(data)) return detached(operation)
    bytes = new Uint8Array(data)
  } else {
    return new RioError.WSAEFAULT({
      operation,
      message: `DataBuffer is ${data === null ? "null" : typeof data}, not a Uint8Array or ArrayBuffer.`
    })
  }
  if (bytes.byteLength === 0 && isDetached(bytes.buffer)) return detached(operation)
  if (length === undefined) {
    const bad = checkLength(bytes.byteLength, operation, max, limitNote)
    if (bad !== undefined) return bad
    return bytes
  }
  if (length > bytes.byteLength) {
    return new RioError.WSAEFAULT({
      operation,
      message: `DataLength ${length} runs past the end of the ${bytes.byteLength}-byte buffer. ` +
        "Register at most the buffer's length."
    })
  }
  const overLimit = checkLength(length, operation, max, limitNote)
  if (overLimit !== undefined) return overLimit
  return length === bytes.byteLength ? bytes : bytes.subarray(0, length)
}

const detached = (operation: string) =>
  new RioError.WSAEFAULT({
    operation,
    message: "DataBuffer's ArrayBuffer is detached (transferred or freed): it has no memory to register."
  })
