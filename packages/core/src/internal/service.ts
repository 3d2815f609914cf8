import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { BufferId } from "../BufferId.js"
import type { Driver, NativeMemory } from "../Driver.js"
import { pagesCovered } from "../Driver.js"
import * as RioError from "../RioError.js"
import { RegistrationImpl } from "./registration.js"
import type { NativeAddress } from "./validate.js"
import { checkLength, isNativeAddress, region } from "./validate.js"

export type Operation = "registerBuffer" | "deregisterBuffer" | "allocate" | "free"

/**
 * A hook run before each operation, for test doubles: an effect to run first (latency,
 * an injected failure) or undefined for none, which keeps the synchronous fast path.
 * `canFail` is false for a release inside a finalizer, where a failure could not be
 * acted upon: only latency applies there.
 */
export type Intercept = (
  operation: Operation,
  canFail: boolean
) => Effect.Effect<void, RioError.RioError> | undefined

export interface Stats {
  readonly registeredBuffers: number
  readonly registeredBytes: number
  readonly lockedPages: number
}

/** What the service knows of a live registration: a `RegistrationImpl`, or this for raw ones. */
interface Live {
  readonly address: bigint
  readonly byteLength: number
  readonly pages: number
  readonly inFlight: number
  /** True for a scoped registration, which only its scope may deregister. */
  readonly owned: boolean
}

class RawEntry implements Live {
  readonly inFlight = 0
  readonly owned = false
  constructor(
    readonly address: bigint,
    readonly byteLength: number,
    readonly pages: number,
    // Holds user memory strongly until release: the kernel keeps using its address.
    readonly bytes: Uint8Array | undefined
  ) {}
}

/** The shared half of every backend: validation, bookkeeping, statistics. */
export class ServiceImpl {
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

  constructor(readonly driver: Driver, private readonly intercept: Intercept | undefined) {
    this.backend = driver.backend
    this.pageSize = driver.pageSize
    this.maxBufferLength = driver.maxBufferLength
    this.limitNote = driver.maxBufferLengthReason === undefined ? "" : ` (${driver.maxBufferLengthReason})`
  }

  private before(operation: Operation, canFail = true) {
    return this.intercept === undefined ? undefined : this.intercept(operation, canFail)
  }

  private guarded<A, E>(
    operation: Operation,
    body: () => Effect.Effect<A, E>
  ): Effect.Effect<A, E | RioError.RioError> {
    return Effect.suspend(() => {
      const first = this.before(operation)
      return first === undefined ? body() : Effect.zipRight(first, Effect.suspend(body))
    })
  }

  // --- synchronous core -------------------------------------------------------------

  private add(id: BufferId, entry: Live): void {
    this.live[id] = entry
    this.liveCount++
    this.registeredBytes += entry.byteLength
    this.lockedPages += entry.pages
  }

  private commit(
    address: bigint,
    length: number,
    bytes: Uint8Array | undefined
  ): BufferId | RioError.RegisterError {
    const id = this.driver.register(address, length)
    if (typeof id !== "number") return id
    this.add(id, new RawEntry(address, length, pagesCovered(address, length, this.pageSize), bytes))
    return id
  }

  unsafeRegister(
    memory: Uint8Array | ArrayBuffer | NativeAddress,
    length: number | undefined
  ): BufferId | RioError.RegisterError {
    const operation = "RIORegisterBuffer"
    if (isNativeAddress(memory)) {
      const bad = checkLength(length ?? memory.byteLength, operation, this.maxBufferLength, this.limitNote)
      if (bad !== undefined) return bad
      if ((length ?? 0) > memory.byteLength) {
        return new RioError.WSAEFAULT({
          operation,
          message: `DataLength ${length} runs past the ${memory.byteLength} bytes at this address.`
        })
      }
      return this.commit(memory.address, length ?? memory.byteLength, undefined)
    }
    const bytes = region(memory, length, operation, this.maxBufferLength, this.limitNote)
    if (!(bytes instanceof Uint8Array)) return bytes
    return this.commit(this.driver.addressOf(bytes), bytes.byteLength, bytes)
  }

  unsafeRegistration(
    memory: Uint8Array | ArrayBuffer,
    length: number | undefined
  ): RegistrationImpl | RioError.RegisterError {
    const bytes = region(memory, length, "RIORegisterBuffer", this.maxBufferLength, this.limitNote)
    if (!(bytes instanceof Uint8Array)) return bytes
    const address = this.driver.addressOf(bytes)
    const id = this.driver.register(address, bytes.byteLength)
    if (typeof id !== "number") return id
    const registration = new RegistrationImpl(
      this,
      id,
      address,
      bytes,
      pagesCovered(address, bytes.byteLength, this.pageSize)
    )
    this.add(id, registration)
    return registration
  }

  private forget(id: BufferId, entry: Live): RioError.WSAEINVAL | RioError.RioSystemError | undefined {
    const error = this.driver.deregister(id, entry.inFlight)
    if (error !== undefined) return error
    this.live[id] = undefined
    this.liveCount--
    this.registeredBytes -= entry.byteLength
    this.lockedPages -= entry.pages
    return undefined
  }

  unsafeDeregister(id: BufferId): RioError.WSAEINVAL | RioError.RioSystemError | undefined {
    const entry = typeof id === "number" ? this.live[id] : undefined
    if (entry === undefined) {
      return new RioError.WSAEINVAL({
        operation: "RIODeregisterBuffer",
        message: `Buffer id ${String(id)} is not registered (never was, or already released).`
      })
    }
    if (entry.owned) {
      return new RioError.WSAEINVAL({
        operation: "RIODeregisterBuffer",
        message: `Buffer id ${id} belongs to a scoped registration: it is deregistered when its scope closes.`
      })
    }
    return this.forget(id, entry)
  }

  // --- effects ------------------------------------------------------------------------

  readonly registerBuffer = (
    memory: Uint8Array | ArrayBuffer | NativeAddress,
    length?: number
  ): Effect.Effect<BufferId, RioError.RegisterError> =>
    this.guarded("registerBuffer", () => fromResult(this.unsafeRegister(memory, length))) as Effect.Effect<
      BufferId,
      RioError.RegisterError
    >

  readonly deregisterBuffer = (id: BufferId): Effect.Effect<void, RioError.WSAEINVAL | RioError.RioSystemError> =>
    this.guarded("deregisterBuffer", () => {
      const error = this.unsafeDeregister(id)
      return error === undefined ? Effect.void : Effect.fail(error)
    }) as Effect.Effect<void, RioError.WSAEINVAL | RioError.RioSystemError>

  readonly allocate = (
    byteLength: number
  ): Effect.Effect<Uint8Array, RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError> =>
    this.guarded("allocate", (): Effect.Effect<Uint8Array, RioError.RioError> => {
      const bad = checkLength(byteLength, "allocate", Number.MAX_SAFE_INTEGER, "")
      if (bad !== undefined) return Effect.fail(bad)
      const memory = this.driver.allocate(byteLength)
      if (!("address" in memory)) return Effect.fail(memory)
      this.memories.set(memory.bytes, memory)
      return Effect.succeed(memory.bytes)
    }) as Effect.Effect<Uint8Array, RioError.WSAEINVAL | RioError.WSAENOBUFS | RioError.RioSystemError>

  readonly free = (bytes: Uint8Array): Effect.Effect<void, RioError.WSAEINVAL> =>
    this.guarded("free", () => {
      const memory = this.memories.get(bytes)
      if (memory === undefined) {
        return Effect.fail(
          new RioError.WSAEINVAL({
            operation: "free",
            message: "This memory was not allocated by this backend, or was already freed."
          })
        )
      }
      const end = memory.address + BigInt(memory.bytes.byteLength)
      for (const [id, entry] of this.live.entries()) {
        if (entry !== undefined && entry.address < end && entry.address + BigInt(entry.byteLength) > memory.address) {
          return Effect.fail(
            new RioError.WSAEINVAL({
              operation: "free",
              message: `This memory is still registered as buffer id ${id}: deregister it before freeing.`
            })
          )
        }
      }
      this.memories.delete(bytes)
      this.driver.free(memory)
      return Effect.void
    }) as Effect.Effect<void, RioError.WSAEINVAL>

  readonly stats: Effect.Effect<Stats> = Effect.sync(() => ({
    registeredBuffers: this.liveCount,
    registeredBytes: this.registeredBytes,
    lockedPages: this.lockedPages
  }))

  /** The scoped-registration acquire, with the intercept honoured. */
  acquire(
    memory: Uint8Array | ArrayBuffer,
    length: number | undefined
  ): Effect.Effect<RegistrationImpl, RioError.RegisterError> {
    return this.guarded("registerBuffer", () => fromResult(this.unsafeRegistration(memory, length))) as Effect.Effect<
      RegistrationImpl,
      RioError.RegisterError
    >
  }

  get isSynchronous(): boolean {
    return this.intercept === undefined
  }

  unsafeDeregisterOwned(registration: RegistrationImpl): Error | undefined {
    return this.live[registration.id] === registration ? this.forget(registration.id, registration) : undefined
  }

  /** Called once per registration, after its tokens are back. */
  deregisterOwned(registration: RegistrationImpl): Effect.Effect<void> {
    const finish = Effect.suspend(() => {
      const error = this.unsafeDeregisterOwned(registration)
      return error === undefined ? Effect.void : Effect.die(error)
    })
    const first = this.before("deregisterBuffer", false)
    return first === undefined ? finish : Effect.zipRight(Effect.orDie(first), finish)
  }

  /** Closes the driver; what raw calls left behind is deregistered and freed first, so nothing leaks. */
  close(): void {
    for (const [id, entry] of this.live.entries()) if (entry !== undefined) this.forget(id as BufferId, entry)
    for (const memory of this.memories.values()) this.driver.free(memory)
    this.memories.clear()
    this.driver.close?.()
  }
}

const fromResult = <A>(result: A | RioError.RioError): Effect.Effect<A, RioError.RioError> =>
  result instanceof Error ? Effect.fail(result as RioError.RioError) : Effect.succeed(result as A)

export const make = (driver: Driver, intercept?: Intercept): Effect.Effect<ServiceImpl, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new ServiceImpl(driver, intercept)),
    (service) => Effect.sync(() => service.close())
  )
