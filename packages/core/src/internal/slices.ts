/**
 * Slices as drivers take them: a `RioBuf` checked against the service's live scoped
 * registrations before any I/O names it.
 */
import * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { invalid } from "./address.js"
import type { RegistrationImpl } from "./registration.js"
import { SliceImpl } from "./registration.js"

/**
 * The slice as the driver takes it. A slice made by a registration of this service is used as
 * it is; a plain `{ bufferId, offset, length }` is looked up by id among `registrations`' scoped ones.
 */
export const resolveSlice = (
  registrations: { readonly scopedRegistration: (id: number) => RegistrationImpl | undefined },
  operation: string,
  buf: RioBuf.RioBuf
): SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT => {
  if (buf instanceof SliceImpl) {
    const registration = buf.registration
    if (buf.revoked) {
      return invalid(
        operation,
        `The slice [${buf.offset}, ${buf.offset + buf.length}) of registration ${registration.id} belongs to a ` +
          "lease that went back to its pool: the slot may be another fiber's now. Use a slice only while its " +
          "lease is held."
      )
    }
    if (registrations.scopedRegistration(registration.id) !== registration) {
      return invalid(
        operation,
        `The slice belongs to registration ${registration.id} of another backend, or to one already released: ` +
          "slice a live registration of this layer."
      )
    }
    return buf
  }
  if (typeof buf !== "object" || buf === null) return invalid(operation, "The RIO_BUF is not a RioBuf.")
  const registration = registrations.scopedRegistration(buf.bufferId)
  if (registration === undefined) {
    return invalid(
      operation,
      `Buffer id ${String(buf.bufferId)} is not a live scoped registration of this layer (never was, or released).`
    )
  }
  const valid = RioBuf.validate(registration, buf.offset, buf.length)
  if (valid instanceof RioError.WSAEINVAL) {
    // Winsock reports memory past the registration as a fault, not as a bad argument.
    return buf.offset + buf.length > registration.byteLength
      ? new RioError.WSAEFAULT({
        operation,
        message: `The RIO_BUF { offset: ${buf.offset}, length: ${buf.length} } runs past the end of registration ` +
          `${registration.id} (${registration.byteLength} bytes): the I/O would touch memory that is not ` +
          "registered. Make slices with the registration's slice(), which checks the range."
      })
      : valid
  }
  return new SliceImpl(registration, buf.offset, buf.length)
}
