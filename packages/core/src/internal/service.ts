/**
 * The service every driver gets (`RegisteredIo.make`): validation, bookkeeping and
 * statistics over the driver's native calls, and the scoped and bracket forms built on them.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Scope from "effect/Scope"
import type { BufferId } from "../BufferId.js"
import type { Driver, NativeMemory } from "../Driver.js"
import { pagesCovered } from "../Driver.js"
import type { NativeAddress, RegisteredIo, RegisterOptions, Registration, Service, Stats } from "../RegisteredIo.js"
import type { ConnectOptions, ListenOptions, SocketError, UdpOptions, UdpSocket } from "../RegisteredSocket.js"
import * as RioError from "../RioError.js"
import type { UnixConnectOptions, UnixListenOptions } from "../SocketOptions.js"
import { countRegistration, tagsOf } from "./observability.js"
import type { ReleasePolicy } from "./registration.js"
import { defaultPolicy, RegistrationImpl } from "./registration.js"
import { Sockets, unavailable } from "./socket.js"
import { checkLength, isNativeAddress, region } from "./validate.js"

/** What the service knows of a live registration: a `RegistrationImpl`, or this for raw ones. */
interface Live {
  readonly address: bigint
  readonly byteLength: number
  readonly pages: number
}

class RawEntry implements Live {
  constructor(
    readonly id: BufferId,
    readonly address: bigint,
    readonly byteLength: number,
    readonly pages: number,
    // Holds user memory strongly until release: the kernel keeps using its address.
    readonly bytes: Uint8Array | undefined
  ) {}
}

type AllocateError = RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError

const policyOf = (options: RegisterOptions | undefined): ReleasePolicy =>
  options === undefined || (options.releaseTimeout === undefined && options.label === undefined)
    ? defaultPolicy
    : {
      label: options.label,
      timeout: options.releaseTimeout === undefined ? undefined : Duration.decode(options.releaseTimeout)
    }

const currentScope = (fiber: { getFiberRef: <A>(ref: FiberRef.FiberRef<A>) => A }): Scope.Scope =>
  Context.unsafeGet(fiber.getFiberRef(FiberRef.currentContext) as Context.Context<Scope.Scope>, Scope.Scope)

/**
 * The service every driver gets: validation, bookkeeping, statistics, and the scoped and
 * bracket forms. Its effects are synchronous underneath (one driver call each), so the
 * hot paths create no `Scope` and run no fiber machinery beyond the effect itself.
 */
export class ServiceImpl implements Service {
  readonly backend: string
  readonly pageSize: number
  readonly maxBufferLength: number
  private readonly limitNote: string
  // Indexed by id: backends hand out small integers, lowest free first.
  private readonly live: Array<Live | undefined> = []
  private liveCount = 0
  private readonly memories = new Map<Uint8Array, NativeMemory>()
  private registeredBytes = 0
  private lockedPages = 0

  private readonly sockets: Sockets | undefined
  private readonly tags: ReturnType<typeof tagsOf> | undefined

  constructor(readonly driver: Driver, readonly metrics: boolean) {
    this.backend = driver.backend
    this.pageSize = driver.pageSize
    this.maxBufferLength = driver.maxBufferLength
    this.limitNote = driver.maxBufferLengthReason === undefined ? "" : ` (${driver.maxBufferLengthReason})`
    this.sockets = driver.net === undefined ? undefined : new Sockets(driver.net, this, driver.backend, metrics)
    this.tags = metrics ? tagsOf(driver.backend) : undefined
  }

  /** The open scoped registration with this id, if any: what a plain `RioBuf` may name. */
  scopedRegistration(id: number): RegistrationImpl | undefined {
    const entry = typeof id === "number" ? this.live[id] : undefined
    return entry instanceof RegistrationImpl && !entry.isReleased ? entry : undefined
  }

  // --- synchronous core -------------------------------------------------------------

  private add(id: BufferId, entry: Live): void {
    this.live[id] = entry
    this.liveCount++
    this.registeredBytes += entry.byteLength
    this.lockedPages += entry.pages
    countRegistration(this.tags, 1, entry.byteLength)
  }

  private forget(id: BufferId, entry: Live): RioError.WSAEINVAL | RioError.RioSystemError | undefined {
    const error = this.driver.deregister(id)
    if (error !== undefined) return error
    this.live[id] = undefined
    this.liveCount--
    this.registeredBytes -= entry.byteLength
    this.lockedPages -= entry.pages
    countRegistration(this.tags, -1, entry.byteLength)
    return undefined
  }

  private unsafeRegisterRaw(
    memory: Uint8Array | ArrayBuffer | NativeAddress,
    length: number | undefined
  ): BufferId | RioError.RegisterError {
    const operation = "RIORegisterBuffer"
    let address: bigint
    let byteLength: number
    let bytes: Uint8Array | undefined
    if (isNativeAddress(memory)) {
      byteLength = length ?? memory.byteLength
      const bad = checkLength(byteLength, operation, this.maxBufferLength, this.limitNote)
      if (bad !== undefined) return bad
      if (byteLength > memory.byteLength) {
        return new RioError.WSAEFAULT({
          operation,
          message: `DataLength ${byteLength} runs past the ${memory.byteLength} bytes at this address.`
        })
      }
      address = memory.address
    } else {
      const checked = region(memory, length, operation, this.maxBufferLength, this.limitNote)
      if (!(checked instanceof Uint8Array)) return checked
      bytes = checked
      address = this.driver.addressOf(checked)
      byteLength = checked.byteLength
    }
    const entry = this.commit(address, byteLength, (id, pages) => new RawEntry(id, address, byteLength, pages, bytes))
    return entry instanceof RawEntry ? entry.id : entry
  }

  private unsafeRegistration(
    memory: Uint8Array | ArrayBuffer,
    length: number | undefined,
    policy: ReleasePolicy
  ): RegistrationImpl | RioError.RegisterError {
    const bytes = region(memory, length, "RIORegisterBuffer", this.maxBufferLength, this.limitNote)
    if (!(bytes instanceof Uint8Array)) return bytes
    const address = this.driver.addressOf(bytes)
    return this.commit(
      address,
      bytes.byteLength,
      (id, pages) => new RegistrationImpl(this, id, address, bytes, pages, policy)
    )
  }

  /** The one native registration path: RIORegisterBuffer, then the bookkeeping of its entry. */
  private commit<L extends Live>(
    address: bigint,
    byteLength: number,
    entry: (id: BufferId, pages: number) => L
  ): L | RioError.RegisterError {
    const id = this.driver.register(address, byteLength)
    if (typeof id !== "number") return id
    const live = entry(id, pagesCovered(address, byteLength, this.pageSize))
    this.add(id, live)
    return live
  }

  private unsafeAllocate(byteLength: number): NativeMemory | AllocateError {
    const bad = checkLength(byteLength, "allocate", Number.MAX_SAFE_INTEGER, "")
    if (bad !== undefined) return bad
    const memory = this.driver.allocate(byteLength)
    if (!("address" in memory)) return memory
    this.memories.set(memory.bytes, memory)
    return memory
  }

  private unsafeFree(bytes: Uint8Array): RioError.WSAEINVAL | undefined {
    const memory = this.memories.get(bytes)
    if (memory === undefined) {
      return new RioError.WSAEINVAL({
        operation: "free",
        message: "This memory was not allocated by this backend, or was already freed."
      })
    }
    const end = memory.address + BigInt(memory.bytes.byteLength)
    for (const [id, entry] of this.live.entries()) {
      if (entry !== undefined && entry.address < end && entry.address + BigInt(entry.byteLength) > memory.address) {
        return new RioError.WSAEINVAL({
          operation: "free",
          message: `This memory is still registered as buffer id ${id}: deregister it before freeing.`
        })
      }
    }
    this.memories.delete(bytes)
    this.driver.free(memory)
    return undefined
  }

  /** Called by a registration once its tokens are back. */
  deregisterOwned(registration: RegistrationImpl): Error | undefined {
    return this.live[registration.id] === registration ? this.forget(registration.id, registration) : undefined
  }

  // --- the raw primitives ---------------------------------------------------------------

  readonly rawRegisterBuffer = (
    memory: Uint8Array | ArrayBuffer | NativeAddress,
    length?: number
  ): Effect.Effect<BufferId, RioError.RegisterError> =>
    Effect.suspend(() => {
      const id = this.unsafeRegisterRaw(memory, length)
      return typeof id === "number" ? Effect.succeed(id) : Effect.fail(id)
    })

  readonly rawDeregisterBuffer = (id: BufferId): Effect.Effect<void, RioError.WSAEINVAL | RioError.RioSystemError> =>
    Effect.suspend(() => {
      const entry = typeof id === "number" ? this.live[id] : undefined
      if (entry === undefined) {
        return Effect.fail(
          new RioError.WSAEINVAL({
            operation: "RIODeregisterBuffer",
            message: `Buffer id ${String(id)} is not registered (never was, or already released).`
          })
        )
      }
      if (entry instanceof RegistrationImpl) {
        return Effect.fail(
          new RioError.WSAEINVAL({
            operation: "RIODeregisterBuffer",
            message: `Buffer id ${id} belongs to a scoped registration: it is deregistered when its scope closes.`
          })
        )
      }
      const error = this.forget(id, entry)
      return error === undefined ? Effect.void : Effect.fail(error)
    })

  readonly rawAllocate = (byteLength: number): Effect.Effect<Uint8Array, AllocateError> =>
    Effect.suspend(() => {
      const memory = this.unsafeAllocate(byteLength)
      return "address" in memory ? Effect.succeed(memory.bytes) : Effect.fail(memory)
    })

  readonly rawFree = (bytes: Uint8Array): Effect.Effect<void, RioError.WSAEINVAL> =>
    Effect.suspend(() => {
      const error = this.unsafeFree(bytes)
      return error === undefined ? Effect.void : Effect.fail(error)
    })

  readonly stats: Effect.Effect<Stats> = Effect.sync(() => ({
    registeredBuffers: this.liveCount,
    registeredBytes: this.registeredBytes,
    lockedPages: this.lockedPages
  }))

  // --- scoped and bracket forms -----------------------------------------------------------

  private traced(name: string, length: unknown) {
    return Effect.withSpan(name, { attributes: { "effect_rio.backend": this.backend, "effect_rio.length": length } })
  }

  // Uninterruptible from the native call until the finalizer is armed: no interruption can
  // leave a registration without its release.
  readonly registerBuffer = (
    data: Uint8Array | ArrayBuffer,
    options?: RegisterOptions
  ): Effect.Effect<Registration, RioError.RegisterError, Scope.Scope> =>
    Effect.uninterruptible(Effect.withFiberRuntime<Registration, RioError.RegisterError, Scope.Scope>((fiber) => {
      const registration = this.unsafeRegistration(data, options?.length, policyOf(options))
      if (!(registration instanceof RegistrationImpl)) return Effect.fail(registration)
      return Effect.as(
        Scope.addFinalizerExit(currentScope(fiber), () => release(registration)),
        registration as Registration
      )
    })).pipe(this.traced("RegisteredIo.registerBuffer", options?.length ?? data?.byteLength))

  readonly allocateBuffer = (
    byteLength: number,
    options?: Omit<RegisterOptions, "length">
  ): Effect.Effect<Registration, AllocateError, Scope.Scope> =>
    Effect.uninterruptible(Effect.withFiberRuntime<Registration, AllocateError, Scope.Scope>((fiber) => {
      const owned = this.unsafeAllocateOwned(byteLength, policyOf(options))
      if (!("registration" in owned)) return Effect.fail(owned)
      return Effect.as(Scope.addFinalizer(currentScope(fiber), owned.release), owned.registration as Registration)
    })).pipe(this.traced("RegisteredIo.allocateBuffer", byteLength))

  /**
   * `allocateBuffer` without a scope, for memory that the library itself owns (a socket's
   * receive ring): the registration, and the effect that releases it once its tokens are back
   * and then frees the memory.
   */
  unsafeAllocateOwned(
    byteLength: number,
    policy: ReleasePolicy
  ): { readonly registration: RegistrationImpl; readonly release: Effect.Effect<void> } | AllocateError {
    // What cannot be registered is refused before any memory is allocated for it.
    const tooLong = checkLength(byteLength, "RIORegisterBuffer", this.maxBufferLength, this.limitNote)
    if (tooLong !== undefined) return tooLong
    const memory = this.unsafeAllocate(byteLength)
    if (!("address" in memory)) return memory
    const registration = this.unsafeRegistration(memory.bytes, undefined, policy)
    if (!(registration instanceof RegistrationImpl)) {
      this.unsafeFree(memory.bytes)
      // Our own page-aligned memory is never a bad pointer: a WSAEFAULT here is a backend bug.
      if (registration._tag === "WSAEFAULT") throw registration
      return registration
    }
    const release = Effect.suspend(() => {
      // The service closed first (a socket that outlived its layer): it freed everything already.
      if (this.isClosed) return Effect.void
      const pending = registration.releaseNow()
      // Memory is freed only once deregistered; a release that gave up leaves both in place.
      if (pending === undefined) return this.freeOwned(memory.bytes)
      return Effect.zipRight(Effect.orDie(pending), Effect.suspend(() => this.freeOwned(memory.bytes)))
    })
    return { registration, release }
  }

  readonly withBuffer = <A, E, R>(
    data: Uint8Array | ArrayBuffer,
    use: (registration: Registration) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | RioError.RegisterError, R> =>
    Effect.uninterruptibleMask((restore): Effect.Effect<A, E | RioError.RegisterError, R> => {
      const registration = this.unsafeRegistration(data, undefined, defaultPolicy)
      if (!(registration instanceof RegistrationImpl)) return Effect.fail(registration)
      return Effect.matchCauseEffect(restore(use(registration)), {
        onFailure: (cause) => {
          const pending = registration.releaseNow()
          return pending === undefined
            ? Effect.failCause(cause)
            : Effect.zipRight(Effect.orDie(pending), Effect.failCause(cause))
        },
        onSuccess: (value) => {
          const pending = registration.releaseNow()
          return pending === undefined ? Effect.succeed(value) : Effect.as(Effect.orDie(pending), value)
        }
      })
    })

  // --- sockets ------------------------------------------------------------------------------

  readonly udp = (options?: UdpOptions): Effect.Effect<UdpSocket, SocketError, Scope.Scope> =>
    this.sockets === undefined ? Effect.fail(unavailable(this.backend)) : this.sockets.udp(options ?? {})

  readonly connect: Service["connect"] = (
    options: ConnectOptions | UnixConnectOptions
  ): Effect.Effect<any, SocketError, Scope.Scope> =>
    this.sockets === undefined ? Effect.fail(unavailable(this.backend)) : this.sockets.connect(options)

  readonly listen: Service["listen"] = (
    options: ListenOptions | UnixListenOptions
  ): Effect.Effect<any, SocketError, Scope.Scope> =>
    this.sockets === undefined ? Effect.fail(unavailable(this.backend)) : this.sockets.listen(options)

  private freeOwned(bytes: Uint8Array): Effect.Effect<void> {
    const error = this.unsafeFree(bytes)
    return error === undefined ? Effect.void : Effect.die(error)
  }

  private isClosed = false

  /** Closes the driver; what raw calls or abandoned releases left behind is deregistered and freed first. */
  close(): void {
    this.isClosed = true
    for (const [id, entry] of this.live.entries()) if (entry !== undefined) this.forget(id as BufferId, entry)
    for (const memory of this.memories.values()) this.driver.free(memory)
    this.memories.clear()
    this.driver.close?.()
  }
}

/** A scope finalizer that releases in place when it can; a release that gave up dies with its WSAETIMEDOUT. */
const release = (registration: RegistrationImpl): Effect.Effect<void> => {
  const pending = registration.releaseNow()
  return pending === undefined ? Effect.void : Effect.orDie(pending)
}

// Context looks services up by key, so this is the public tag without importing it back.
const serviceTag = Context.GenericTag<RegisteredIo, Service>("@effect-rio/core/RegisteredIo")

/**
 * Reads the service straight from the fiber's context: one effect fewer than
 * `Effect.flatMap(RegisteredIo, f)` on the hot paths.
 */
export const withService = <A, E, R>(
  f: (service: Service) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | RegisteredIo> =>
  Effect.withFiberRuntime((fiber) =>
    f(Context.unsafeGet(fiber.getFiberRef(FiberRef.currentContext) as Context.Context<RegisteredIo>, serviceTag))
  )

/** A service over `driver` whose scope closes the driver (after cleaning up what was left). */
export const makeScoped = (driver: Driver, metrics: boolean): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new ServiceImpl(driver, metrics)),
    (service) => Effect.sync(() => service.close())
  )
