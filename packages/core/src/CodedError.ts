/**
 * The typed error of a native code, for backends: each Winsock code (Linux errnos are
 * translated to them first) becomes its own `RioError` class, any other `RioSystemError`.
 *
 * @since 0.2.0
 */
import * as RioError from "./RioError.js"

/**
 * The errors a native code can map to: every class with a Winsock code of its own, and
 * `RioSystemError` for the rest.
 *
 * @since 0.2.0
 * @category models
 */
export type CodedError =
  | RioError.WSAEFAULT
  | RioError.WSAEINVAL
  | RioError.WSAENOBUFS
  | RioError.WSAETIMEDOUT
  | RioError.NetworkError
  | RioError.RioSystemError

// Each class's own code, read from an instance so that it is written once (in its constructor).
const byCode: ReadonlyMap<number, new(input: RioError.Input) => CodedError> = new Map(
  ([
    RioError.WSAEFAULT,
    RioError.WSAEINVAL,
    RioError.WSAEMSGSIZE,
    RioError.WSAEAFNOSUPPORT,
    RioError.WSAEADDRINUSE,
    RioError.WSAEADDRNOTAVAIL,
    RioError.WSAECONNABORTED,
    RioError.WSAECONNRESET,
    RioError.WSAENOBUFS,
    RioError.WSAESHUTDOWN,
    RioError.WSAETIMEDOUT,
    RioError.WSAECONNREFUSED,
    RioError.WSAENOTCONN,
    RioError.WSAENETUNREACH,
    RioError.WSAEHOSTUNREACH,
    RioError.WSAEACCES,
    RioError.WSAEMFILE,
    RioError.WSAENOPROTOOPT,
    RioError.WSAHOST_NOT_FOUND
  ] as ReadonlyArray<new(input: RioError.Input) => CodedError>).map((
    Known
  ) => [new Known({ operation: "", message: "" }).code, Known])
)

/**
 * The typed error of a Winsock code: its own class where there is one, `RioSystemError`
 * otherwise. Lets a backend keep its native codes in a plain table (native code to Winsock
 * code and what it means) instead of constructing classes itself.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromCode = (code: number, fields: Omit<RioError.RioErrorFields, "code">): CodedError => {
  const Known = byCode.get(code)
  return Known === undefined ? new RioError.RioSystemError({ ...fields, code }) : new Known({ ...fields, code })
}
