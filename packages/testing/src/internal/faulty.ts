/**
 * The double's fault injection, as a wrapper of the service: injected failures and latency
 * run before each registration call.
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Operation } from "../RioTest.js"
import type { Double } from "./double.js"

/**
 * Wraps a service so that the double's faults and latency run before each operation, and
 * so that the double sees every scoped registration (to check deregistrations against their
 * tokens). A wrapper of the service rather than of the driver, because latency is an effect
 * on the Clock and drivers are synchronous; it uses nothing but the public `Service`.
 */
export const faulty = (inner: RegisteredIo.Service, double: Double): RegisteredIo.Service => {
  const guard = <A, E, R>(operation: Operation, body: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const first = double.intercept(operation, true) as Effect.Effect<void, E> | undefined
      return first === undefined ? body : Effect.zipRight(first, body)
    })
  // Latency of the release runs before the release itself; it cannot fail there.
  const releaseLatency = (operations: ReadonlyArray<Operation>): Effect.Effect<void> =>
    Effect.suspend(() => {
      const delays = operations.flatMap((operation) => double.intercept(operation, false) ?? [])
      return delays.length === 0 ? Effect.void : Effect.orDie(Effect.all(delays, { discard: true }))
    })
  const watched = (operations: ReadonlyArray<Operation>) => (registration: RegisteredIo.Registration) =>
    Effect.flatMap(Effect.scope, (scope) => {
      double.track(registration)
      return Scope.addFinalizer(scope, releaseLatency(operations))
    })

  // Only what a fault can hit is wrapped; the rest (sizes, stats, and the sockets, whose
  // faults live in the simulated network itself: RioTest.Control) is the inner service's.
  return {
    backend: inner.backend,
    metrics: inner.metrics,
    pageSize: inner.pageSize,
    maxBufferLength: inner.maxBufferLength,
    stats: inner.stats,
    udp: inner.udp,
    connect: inner.connect,
    listen: inner.listen,
    rawRegisterBuffer: (memory, length) => guard("registerBuffer", inner.rawRegisterBuffer(memory, length)),
    rawDeregisterBuffer: (id) => guard("deregisterBuffer", inner.rawDeregisterBuffer(id)),
    rawAllocate: (byteLength) => guard("allocate", inner.rawAllocate(byteLength)),
    rawFree: (memory) => guard("free", inner.rawFree(memory)),
    registerBuffer: (data, options) =>
      guard(
        "registerBuffer",
        Effect.uninterruptible(Effect.tap(inner.registerBuffer(data, options), watched(["deregisterBuffer"])))
      ),
    allocateBuffer: (byteLength, options) =>
      guard(
        "allocate",
        guard(
          "registerBuffer",
          Effect.uninterruptible(
            Effect.tap(inner.allocateBuffer(byteLength, options), watched(["deregisterBuffer", "free"]))
          )
        )
      ),
    withBuffer: (data, use) =>
      guard(
        "registerBuffer",
        inner.withBuffer(data, (registration) => {
          double.track(registration)
          return Effect.ensuring(use(registration), releaseLatency(["deregisterBuffer"]))
        })
      )
  }
}
