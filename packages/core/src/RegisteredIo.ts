/**
 * The registered I/O backend service and the scoped registration built on it: acquire is
 * RIORegisterBuffer, release is RIODeregisterBuffer — exactly once, also on failure and
 * interruption, and only after every I/O on the buffer has completed.
 *
 * The service's interface is the whole contract: the functions of this module use nothing
 * else, so any value implementing {@link Service} can be provided with `Layer.succeed`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { BufferId } from "./BufferId.js"
import type { Driver } from "./Driver.js"
import * as internal from "./internal/service.js"
import type * as RegisteredSocket from "./RegisteredSocket.js"
import type * as RioBuf from "./RioBuf.js"
import type * as RioError from "./RioError.js"
import type * as SocketOptions from "./SocketOptions.js"

export type {
  /**
   * A registration's id (see the `BufferId` module).
   *
   * @since 0.1.0
   * @category models
   */
  BufferId
}

/**
 * Native memory named only by its address, for {@link Service.rawRegisterBuffer} (for
 * example memory from another library). Nothing can check it: the kernel decides.
 *
 * @since 0.1.0
 * @category models
 */
export interface NativeAddress {
  readonly _tag: "NativeAddress"
  readonly address: bigint
  readonly byteLength: number
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
 * Options of a scoped registration.
 *
 * @since 0.2.0
 * @category models
 */
export interface RegisterOptions {
  /** Register only the first `length` bytes (default: all). */
  readonly length?: number
  /**
   * How long release may wait for outstanding I/O tokens (or a pool's leases). Unset, it
   * waits as long as it takes, logging a warning after 1 s and every 10 s after that. Set,
   * it gives up after this long: the registration stays pinned (nothing the kernel may still
   * touch is freed) and the release dies with a `WSAETIMEDOUT`.
   */
  readonly releaseTimeout?: Duration.DurationInput
  /** What release warnings call this registration (default `"registration <id>"`). */
  readonly label?: string
}

/**
 * The backend service: the scoped and bracket forms behind this module's functions (same
 * names), the sockets behind `RegisteredSocket`, and the raw OS calls (`raw*`: a thin,
 * honest mirror of RIORegisterBuffer and friends whose results the caller must give back).
 * Validation is the same on every backend and happens before any native call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `"io_uring"`, `"winsock"` or `"test"`. */
  readonly backend: string
  /** Whether this service updates the `effect_rio_*` metrics (see {@link MetricsEnabled}). */
  readonly metrics: boolean
  readonly pageSize: number
  /** The largest single registration the backend accepts. */
  readonly maxBufferLength: number
  /** Raw RIORegisterBuffer: the caller must deregister the id. Prefer {@link registerBuffer}. */
  readonly rawRegisterBuffer: (
    memory: Uint8Array | ArrayBuffer | NativeAddress,
    length?: number
  ) => Effect.Effect<BufferId, RioError.RegisterError>
  /** Raw RIODeregisterBuffer: unknown, released or scope-owned ids are `WSAEINVAL`. */
  readonly rawDeregisterBuffer: (id: BufferId) => Effect.Effect<void, RioError.WSAEINVAL | RioError.RioSystemError>
  /** Page-aligned, zeroed native memory of exactly `byteLength` bytes. Prefer {@link allocateBuffer}. */
  readonly rawAllocate: (
    byteLength: number
  ) => Effect.Effect<Uint8Array, RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError>
  /** Gives back memory from `rawAllocate`; refused while any part of it is registered. */
  readonly rawFree: (memory: Uint8Array) => Effect.Effect<void, RioError.WSAEINVAL>
  readonly stats: Effect.Effect<Stats>
  /** {@link registerBuffer}: the scoped registration. */
  readonly registerBuffer: (
    data: Uint8Array | ArrayBuffer,
    options?: RegisterOptions
  ) => Effect.Effect<Registration, RioError.RegisterError, Scope.Scope>
  /** {@link allocateBuffer}: the scoped allocation and registration. */
  readonly allocateBuffer: (
    byteLength: number,
    options?: Omit<RegisterOptions, "length">
  ) => Effect.Effect<
    Registration,
    RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError,
    Scope.Scope
  >
  /** {@link withBuffer}: the bracket. */
  readonly withBuffer: <A, E, R>(
    data: Uint8Array | ArrayBuffer,
    use: (registration: Registration) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | RioError.RegisterError, R>
  /** Behind `RegisteredSocket.udp`; `RioUnavailable` on a backend without sockets. */
  readonly udp: (
    options?: RegisteredSocket.UdpOptions
  ) => Effect.Effect<RegisteredSocket.UdpSocket, RegisteredSocket.SocketError, Scope.Scope>
  /** Behind `RegisteredSocket.connect`: TCP, or with `path` a Unix domain stream socket. */
  readonly connect: {
    (
      options: RegisteredSocket.ConnectOptions
    ): Effect.Effect<RegisteredSocket.TcpStream, RegisteredSocket.SocketError, Scope.Scope>
    (
      options: SocketOptions.UnixConnectOptions
    ): Effect.Effect<
      RegisteredSocket.TcpStream<RegisteredSocket.UnixAddress>,
      RegisteredSocket.SocketError,
      Scope.Scope
    >
    (
      options: RegisteredSocket.ConnectOptions | SocketOptions.UnixConnectOptions
    ): Effect.Effect<RegisteredSocket.TcpStream<Address>, RegisteredSocket.SocketError, Scope.Scope>
  }
  /** Behind `RegisteredSocket.listen`: TCP, or with `path` a Unix domain listener. */
  readonly listen: {
    (
      options: RegisteredSocket.ListenOptions
    ): Effect.Effect<RegisteredSocket.TcpListener, RegisteredSocket.SocketError, Scope.Scope>
    (
      options: SocketOptions.UnixListenOptions
    ): Effect.Effect<
      RegisteredSocket.TcpListener<RegisteredSocket.UnixAddress>,
      RegisteredSocket.SocketError,
      Scope.Scope
    >
    (
      options: RegisteredSocket.ListenOptions | SocketOptions.UnixListenOptions
    ): Effect.Effect<RegisteredSocket.TcpListener<Address>, RegisteredSocket.SocketError, Scope.Scope>
  }
}

type Address = RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress

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
  /**
   * A view of exactly the registered range, without copy. Valid inside the registration's
   * scope only: see the README ("After release") for what a kept view does afterwards.
   */
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
 * The service over a backend's native calls, adding the validation, bookkeeping and
 * statistics that every backend shares. It takes no resource: the driver's lifetime stays
 * the caller's (use {@link layerDriver} to tie it to a layer). `metrics: false` makes a
 * service that updates no metric (this constructor does not read {@link MetricsEnabled}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (driver: Driver, options?: { readonly metrics?: boolean }): Service =>
  new internal.ServiceImpl(driver, options?.metrics ?? true)

/**
 * Whether a backend's service updates the library's `effect_rio_*` metrics (registrations,
 * pools, sockets): yes unless `false` is provided where its layer is built. Read once, when
 * the service is made. See {@link withoutMetrics}.
 *
 * @since 0.2.0
 * @category metrics
 */
export class MetricsEnabled extends Context.Reference<MetricsEnabled>()("@effect-rio/core/MetricsEnabled", {
  defaultValue: () => true
}) {}

/**
 * A backend layer whose service updates no metric: `RegisteredIo.withoutMetrics(KoffiRio.layer())`.
 * Spans are the tracer's to switch off.
 *
 * @since 0.2.0
 * @category metrics
 */
export const withoutMetrics = <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.provide(layer, Layer.succeed(MetricsEnabled, false))

/**
 * {@link make} in a scope: when the scope closes, whatever raw calls or abandoned releases
 * left registered is deregistered, allocated memory is freed, and the driver is closed.
 * Metrics follow {@link MetricsEnabled}.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeScoped = (driver: Driver): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.flatMap(MetricsEnabled, (metrics) => internal.makeScoped(driver, metrics))

/**
 * The layer of a backend: acquires its driver, builds the service with
 * {@link makeScoped}, and closes both when the layer is released.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerDriver = <E, R>(
  acquire: Effect.Effect<Driver, E, R>
): Layer.Layer<RegisteredIo, E, Exclude<R, Scope.Scope>> =>
  Layer.scoped(RegisteredIo, Effect.flatMap(acquire, makeScoped))

const withService = internal.withService

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
  options?: number | RegisterOptions
): Effect.Effect<Registration, RioError.RegisterError, RegisteredIo | Scope.Scope> =>
  withService((service) => service.registerBuffer(data, typeof options === "number" ? { length: options } : options))

/**
 * Allocates `byteLength` bytes of page-aligned native memory from the backend and
 * registers all of it; the scope deregisters (after in-flight I/O) and then frees it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const allocateBuffer = (
  byteLength: number,
  options?: Omit<RegisterOptions, "length">
): Effect.Effect<
  Registration,
  RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError,
  RegisteredIo | Scope.Scope
> => withService((service) => service.allocateBuffer(byteLength, options))

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
  withService((service) => service.withBuffer(data, use))

/**
 * Names native memory by address, for {@link Service.rawRegisterBuffer} (for example
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
