/**
 * The operations the differential test draws its sequences from: public calls with good and
 * bad arguments. Indexes (of registrations, slices, sockets) are taken modulo what the run
 * has made so far, so every generated sequence means something on every backend.
 */
import * as FastCheck from "effect/FastCheck"

export type Operation =
  | { readonly op: "register"; readonly allocate: boolean; readonly length: number }
  | {
    readonly op: "slice"
    readonly registration: number
    readonly offset: number
    readonly length: number
    /** A plain `{ bufferId, offset, length }` instead of one the registration made. */
    readonly literal: boolean
  }
  | { readonly op: "fill"; readonly slice: number; readonly seed: number }
  | { readonly op: "release"; readonly registration: number }
  | { readonly op: "lease" }
  | { readonly op: "returnLease" }
  | {
    readonly op: "sendTo"
    readonly from: 0 | 1
    readonly to: 0 | 1
    readonly slice: number
    readonly portZero: boolean
  }
  | { readonly op: "receiveFrom"; readonly at: 0 | 1; readonly slice: number }
  | { readonly op: "interruptReceive"; readonly at: 0 | 1; readonly slice: number }
  | { readonly op: "send"; readonly end: 0 | 1; readonly slice: number }
  | { readonly op: "receive"; readonly end: 0 | 1; readonly slice: number }
  | { readonly op: "shutdown"; readonly end: 0 | 1; readonly how: "read" | "write" | "both" }

/**
 * Lengths and offsets at the edges: zero, one, the sizes used, past them, negative, fractional,
 * more than a DWORD holds. Not between 1 and 4 GiB: there the backends' limits truly differ
 * (io_uring and the double refuse over 1 GiB, Winsock takes up to 4 GiB − 1; see the README).
 */
const size = FastCheck.constantFrom(0, 1, 7, 64, 65, 300, 4096, -1, 1.5, 2 ** 32)
const place = FastCheck.constantFrom(0, 1, 32, 63, 64, 299, -1, 2 ** 32)
const index = FastCheck.nat({ max: 7 })
const side = FastCheck.constantFrom(0 as const, 1 as const)

const operation: FastCheck.Arbitrary<Operation> = FastCheck.oneof(
  FastCheck.record({ op: FastCheck.constant("register" as const), allocate: FastCheck.boolean(), length: size }),
  FastCheck.record({
    op: FastCheck.constant("slice" as const),
    registration: index,
    offset: place,
    length: size,
    literal: FastCheck.boolean()
  }),
  FastCheck.record({ op: FastCheck.constant("fill" as const), slice: index, seed: FastCheck.nat({ max: 255 }) }),
  FastCheck.record({ op: FastCheck.constant("release" as const), registration: index }),
  FastCheck.record({ op: FastCheck.constant("lease" as const) }),
  FastCheck.record({ op: FastCheck.constant("returnLease" as const) }),
  FastCheck.record({
    op: FastCheck.constant("sendTo" as const),
    from: side,
    to: side,
    slice: index,
    portZero: FastCheck.boolean()
  }),
  FastCheck.record({ op: FastCheck.constant("receiveFrom" as const), at: side, slice: index }),
  FastCheck.record({ op: FastCheck.constant("interruptReceive" as const), at: side, slice: index }),
  FastCheck.record({ op: FastCheck.constant("send" as const), end: side, slice: index }),
  FastCheck.record({ op: FastCheck.constant("receive" as const), end: side, slice: index }),
  FastCheck.record({
    op: FastCheck.constant("shutdown" as const),
    end: side,
    how: FastCheck.constantFrom("read" as const, "write" as const, "both" as const)
  })
)

/** Sequences that start with a registration and a slice of it, so that most steps have one to use. */
export const operations: FastCheck.Arbitrary<ReadonlyArray<Operation>> = FastCheck.array(operation, {
  minLength: 1,
  maxLength: 24
}).map((rest): ReadonlyArray<Operation> => [
  { op: "register", allocate: true, length: 4096 },
  { op: "slice", registration: 0, offset: 0, length: 64, literal: false },
  ...rest
])
