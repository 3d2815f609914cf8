/**
 * The `@effect/rpc` service of the rpc suites: unary calls whose answers are computed from
 * the request (so every response can be checked), a stream checked item by item, and
 * handlers that fail, die or never end, for the fault tests.
 */
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** The typed failure of `Refuse`. */
export class Refused extends Schema.TaggedError<Refused>()("Refused", { id: Schema.Number }) {}

export class Calls extends RpcGroup.make(
  Rpc.make("Echo", {
    payload: { id: Schema.Number, bytes: Schema.Uint8ArrayFromSelf },
    success: Schema.Struct({ id: Schema.Number, bytes: Schema.Uint8ArrayFromSelf })
  }),
  Rpc.make("Sum", { payload: { values: Schema.Array(Schema.Number) }, success: Schema.Number }),
  /** `count` numbers from `from` on, in order. */
  Rpc.make("Count", { payload: { from: Schema.Number, count: Schema.Number }, success: Schema.Number, stream: true }),
  /** Numbers from 0 on, forever: for clients that vanish mid-stream. */
  Rpc.make("Forever", { success: Schema.Number, stream: true }),
  /** `count` numbers, then `Refused`. */
  Rpc.make("CountThenFail", {
    payload: { count: Schema.Number },
    success: Schema.Number,
    error: Refused,
    stream: true
  }),
  Rpc.make("Refuse", { payload: { id: Schema.Number }, error: Refused }),
  Rpc.make("Die", { payload: { message: Schema.String } })
) {}

/** What the server's `Forever` handler saw: its first item, and its interruption (the client went away). */
export interface Observed {
  readonly started: Deferred.Deferred<void>
  readonly interrupted: Deferred.Deferred<void>
}

export const makeObserved: Effect.Effect<Observed> = Effect.zipWith(
  Deferred.make<void>(),
  Deferred.make<void>(),
  (started, interrupted) => ({ started, interrupted })
)

export const handlers = (observed: Observed) =>
  Calls.toLayer({
    Echo: (request) => Effect.succeed({ id: request.id, bytes: request.bytes }),
    Sum: ({ values }) => Effect.succeed(values.reduce((total, value) => total + value, 0)),
    Count: ({ count, from }) => Stream.range(from, from + count - 1),
    Forever: () =>
      Stream.iterate(0, (n) => n + 1).pipe(
        Stream.tap(() => Deferred.succeed(observed.started, undefined)),
        Stream.ensuringWith((exit) =>
          Exit.isInterrupted(exit) ? Deferred.succeed(observed.interrupted, undefined) : Effect.void
        )
      ),
    CountThenFail: ({ count }) => Stream.concat(Stream.range(0, count - 1), Stream.fail(new Refused({ id: count }))),
    Refuse: ({ id }) => Effect.fail(new Refused({ id })),
    Die: ({ message }) => Effect.dieMessage(message)
  })
