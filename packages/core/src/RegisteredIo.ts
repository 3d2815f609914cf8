/**
 * The registered I/O backend service and the scoped registration built on it: acquire is
 * RIORegisterBuffer, release is RIODeregisterBuffer — exactly once, also on failure and
 * interruption, and only after every I/O on the buffer has completed.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Scope from "effect/Scope"
import type { BufferId } from "./BufferId.js"
import type { Driver } from "./Driver.js"
import { RegistrationImpl } from "./internal/registration.js"
import type { Intercept, Operation } from "./internal/service.js"
import * as internal from "./internal/service.js"
import type { NativeAddress } from "./internal/validate.js"
import type * as RioBuf from "./RioBuf.js"
import type * as RioError from "./RioError.js"

export type {
  /**
   * @since 0.1.0
   * @category models
   */
  BufferId,
  /**
   * @since 0.1.0
   * @category models
   */
  Intercept,
  /**
   * @since 0.1.0
   * @category models
   */
  NativeAddress,
  /**
   * @since 0.1.0
   * @category models
   */
  Operation
}

/**
 * Live statistics of a backend: what is registered now and how many pages that locks
 * (each registration counts every page it touches, as the kernels account them).
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly registeredBuffers: number
  readonly registeredBytes: number
  readonly lockedPages: number
}

/**
 * The backend service: a thin, honest mirror of the OS calls. Backends differ only here;
 * validation is the same on all of them and happens before any native call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `"io_uring"`, `"winsock"` or `"test"`. */
  readonly backend: string
  readonly pageSize: number
  /** The largest single registration the backend accepts. */
  readonly maxBufferLength: number
  /** Raw RIORegisterBuffer: the caller must deregister the id. Prefer {@link registerBuffer}. */
  readonly registerBuffer: (
    memory: Uint8Array | ArrayBuffer | NativeAddress,
    length?: number
  ) => Effect.Effect<BufferId, RioError.RegisterError>
  /** Raw RIODeregisterBuffer: unknown, released or scope-owned ids are `WSAEINVAL`. */
  readonly deregisterBuffer: (id: BufferId) => Effect.Effect<void, RioError.WSAEINVAL | RioError.RioSystemError>
  /** Page-aligned, zeroed native memory of exactly `byteLength` bytes. Prefer {@link allocateBuffer}. */
  readonly allocate: (
    byteLength: number
  ) => Effect.Effect<Uint8Array, RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError>
  /** Gives back memory from `allocate`; refused while any part of it is registered. */
  readonly free: (memory: Uint8Array) => Effect.Effect<void, RioError.WSAEINVAL>
  readonly stats: Effect.Effect<Stats>
}

/**
 * The backend service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class RegisteredIo extends Context.Tag("@effect-rio/core/RegisteredIo")<RegisteredIo, Service>() {}

/**
 * A live registration: the id, a view of exactly the registered bytes, slicing into
 * `RioBuf`s, and the in-flight accounting that keeps release from racing I/O.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  readonly id: BufferId
  readonly address: bigint
  readonly byteLength: number
  /** A view of exactly the registered range, without copy. */
  readonly bytes: Uint8Array
  /** Tokens held now: I/O handed to the kernel whose completion is not yet consumed. */
  readonly inFlight: number
  /** True once release has begun: no new slices or tokens. */
  readonly isReleased: boolean
  /** A `RioBuf` of `[offset, offset + length)`; out of range, empty or after release is `WSAEINVAL`. */
  readonly slice: (offset: number, length: number) => Effect.Effect<RioBuf.RioBuf, RioError.WSAEINVAL>
  /** The same check without an effect, for hot loops. */
  readonly unsafeSlice: (offset: number, length: number) => RioBuf.RioBuf | RioError.WSAEINVAL
  /** Takes a token before handing a slice to the kernel; `WSAEINVAL` once release has begun. */
  readonly acquireToken: Effect.Effect<void, RioError.WSAEINVAL>
  /** Gives a token back once the completion is consumed; release waits for the last one. */
  readonly releaseToken: Effect.Effect<void>
  /** Holds a token for the duration of `effect`. */
  readonly withToken: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RioError.WSAEINVAL, R>
  readonly unsafeAcquireToken: () => RioError.WSAEINVAL | undefined
  /** False when no token was held. */
  readonly unsafeReleaseToken: () => boolean
}

/**
 * Builds the service from a backend's native calls, in a scope that closes the driver
 * (after deregistering and freeing whatever raw calls left behind). `intercept` is for
 * test doubles: it runs before each operation (latency, injected faults).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDriver = (driver: Driver, intercept?: Intercept): Effect.Effect<Service, never, Scope.Scope> =>
  internal.make(driver, intercept)

const impl = (service: Service): internal.ServiceImpl => {
  if (service instanceof internal.ServiceImpl) return service
  throw new TypeError("effect-rio: RegisteredIo service was not built with RegisteredIo.fromDriver")
}

const serviceIn = (context: Context.Context<never>): internal.ServiceImpl =>
  impl(Context.unsafeGet(context as Context.Context<RegisteredIo>, RegisteredIo))

/** Releases `registration` after `use` ends, however it ends; in place when it can. */
const useThenRelease = <A, E, R>(
  registration: RegistrationImpl,
  use: (registration: Registration) => Effect.Effect<A, E, R>,
  restore: <AX, EX, RX>(effect: Effect.Effect<AX, EX, RX>) => Effect.Effect<AX, EX, RX>
): Effect.Effect<A, E, R> =>
  Effect.matchCauseEffect(restore(use(registration)), {
    onFailure: (cause) => {
      const pending = registration.releaseNow()
      return pending === undefined ? Effect.failCause(cause) : Effect.zipRight(pending, Effect.failCause(cause))
    },
    onSuccess: (value) => {
      const pending = registration.releaseNow()
      return pending === undefined ? Effect.succeed(value) : Effect.as(pending, value)
    }
  })

/** A scope finalizer that releases in place when it can. */
const releaser = (registration: RegistrationImpl) => () => registration.releaseNow() ?? Effect.void

/**
 * Registers `data` (its first `length` bytes, default all) for the life of the scope:
 * acquire is RIORegisterBuffer, release is RIODeregisterBuffer, which runs exactly once
 * — also on failure and interruption — and waits until no I/O is outstanding.
 *
 * @since 0.1.0
 * @category constructors
 */
export const registerBuffer = (
  data: Uint8Array | ArrayBuffer,
  length?: number
): Effect.Effect<Registration, RioError.RegisterError, RegisteredIo | Scope.Scope> =>
  // Uninterruptible from the native call until the finalizer is armed: no interruption can
  // leave a registration without its release.
  Effect.uninterruptible(
    Effect.withFiberRuntime<Registration, RioError.RegisterError, RegisteredIo | Scope.Scope>((fiber) => {
      const context = fiber.getFiberRef(FiberRef.currentContext)
      const service = serviceIn(context)
      const scope = Context.unsafeGet(context as Context.Context<Scope.Scope>, Scope.Scope)
      if (!service.isSynchronous) {
        return Effect.tap(service.acquire(data, length), (registration) =>
          Scope.addFinalizerExit(scope, releaser(registration)))
      }
      const registration = service.unsafeRegistration(data, length)
      if (!(registration instanceof RegistrationImpl)) {
        return Effect.fail(registration)
      }
      return Effect.as(Scope.addFinalizerExit(scope, releaser(registration)), registration as Registration)
    })
  )

/**
 * Allocates `byteLength` bytes of page-aligned native memory from the backend and
 * registers all of it; the scope deregisters (after in-flight I/O) and then frees it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const allocateBuffer = (
  byteLength: number
): Effect.Effect<
  Registration,
  RioError.WSAEFAULT | RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError,
  RegisteredIo | Scope.Scope
> =>
  Effect.uninterruptible(
    Effect.flatMap(Effect.scope, (scope) =>
      Effect.flatMap(RegisteredIo, (service) =>
        Effect.flatMap(service.allocate(byteLength), (memory) =>
          Effect.zipRight(
            // Added first so it runs last: memory is freed only after deregistration.
            Scope.addFinalizer(scope, Effect.orDie(service.free(memory))),
            Effect.tap(impl(service).acquire(memory, undefined), (registration) =>
              Scope.addFinalizerExit(scope, releaser(registration)))
          ))))
  )

/**
 * The bracket form for hot paths: registers `data`, runs `use`, and deregisters when
 * `use` ends however it ends — without creating a `Scope`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withBuffer = <A, E, R>(
  data: Uint8Array | ArrayBuffer,
  use: (registration: Registration) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | RioError.RegisterError, R | RegisteredIo> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E | RioError.RegisterError, R | RegisteredIo>((fiber) => {
      const service = serviceIn(fiber.getFiberRef(FiberRef.currentContext))
      if (!service.isSynchronous) {
        return Effect.flatMap(
          service.acquire(data, undefined),
          (registration) => useThenRelease(registration, use, restore)
        )
      }
      const registration = service.unsafeRegistration(data, undefined)
      if (!(registration instanceof RegistrationImpl)) return Effect.fail(registration)
      return useThenRelease(registration, use, restore)
    })
  )

/**
 * Names native memory by address, for the raw `registerBuffer` primitive (for example
 * memory from another library). Nothing can check it: the kernel decides.
 *
 * @since 0.1.0
 * @category constructors
 */
export const nativeAddress = (address: bigint, byteLength: number): NativeAddress => ({
  _tag: "NativeAddress",
  address,
  byteLength
})
