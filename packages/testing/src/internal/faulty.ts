import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Double, Operation } from "./double.js"

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

  return {
    backend: inner.backend,
    pageSize: inner.pageSize,
    maxBufferLength: inner.maxBufferLength,
    registerBuffer: (memory, length) => guard("registerBuffer", inner.registerBuffer(memory, length)),
    deregisterBuffer: (id) => guard("deregisterBuffer", inner.deregisterBuffer(id)),
    allocate: (byteLength) => guard("allocate", inner.allocate(byteLength)),
    free: (memory) => guard("free", inner.free(memory)),
    stats: inner.stats,
    register: (data, options) =>
      guard(
        "registerBuffer",
        Effect.uninterruptible(Effect.tap(inner.register(data, options), watched(["deregisterBuffer"])))
      ),
    allocateRegistered: (byteLength, options) =>
      guard(
        "allocate",
        guard(
          "registerBuffer",
          Effect.uninterruptible(
            Effect.tap(inner.allocateRegistered(byteLength, options), watched(["deregisterBuffer", "free"]))
          )
        )
      ),
    withRegistration: (data, use) =>
      guard(
        "registerBuffer",
        inner.withRegistration(data, (registration) => {
          double.track(registration)
          return Effect.ensuring(use(registration), releaseLatency(["deregisterBuffer"]))
        })
      ),
    // The network's faults live in the simulated network itself (RioTest.Control).
    udp: inner.udp,
    connect: inner.connect,
    listen: inner.listen
  }
}
