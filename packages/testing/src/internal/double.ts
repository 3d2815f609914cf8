/**
 * The double's simulated kernel: buffer registration under the same limits as the real
 * backends (ids lowest free first, a registration cap, a locked-memory limit), the faults
 * and latency attached to those native calls, and what tests inspect (live registrations,
 * history, violations). Its sockets are the simulated network of `network.ts`.
 */
import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver } from "@effect-rio/core/Driver"
import { pagesCovered } from "@effect-rio/core/Driver"
import { IdAllocator } from "@effect-rio/core/IdAllocator"
import * as RioError from "@effect-rio/core/RioError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { HistoryEntry, LiveRegistration, Operation, Options, Violation } from "../RioTest.js"
import { AddressSpace } from "./addressSpace.js"
import { Network } from "./network.js"

/**
 * By default the double refuses what the strictest real backend refuses: io_uring registers at
 * most 1 GiB at once (Winsock RIO takes up to a DWORD), so code tested here does not meet that
 * limit first in production. `maxBufferLength` models another.
 */
const DEFAULT_MAX_BUFFER_LENGTH = 1024 * 1024 * 1024
const DEFAULT_LIMIT_REASON = "the double's default, io_uring's limit: the strictest real backend's; " +
  "RioTest.layer({ maxBufferLength }) models another"

/**
 * A hook run before each operation: an effect to run first (latency, an injected failure)
 * or undefined for none. `canFail` is false for a release inside a finalizer, where a
 * failure could not be acted upon: only latency applies there.
 */
export type Intercept = (
  operation: Operation,
  canFail: boolean
) => Effect.Effect<void, RioError.RioError> | undefined

/** What the double needs to see of a scoped registration: its id and its tokens. */
export interface Tracked {
  readonly id: BufferId.BufferId
  readonly inFlight: number
}

interface Fault {
  readonly error: RioError.RioError
  readonly every: number
  calls: number
}

/** The double's state: its native calls, its faults, and what tests inspect. */
export class Double {
  readonly space: AddressSpace
  readonly pageSize: number
  readonly maxBufferLength: number
  readonly maxRegistrations: number
  readonly lockedMemoryLimit: number
  readonly network: Network
  readonly live = new Map<BufferId.BufferId, LiveRegistration>()
  readonly history: Array<HistoryEntry> = []
  readonly violations: Array<Violation> = []
  /** Scoped registrations by id, so that a deregistration can be checked against their tokens. */
  private readonly tracked = new Map<BufferId.BufferId, Tracked>()
  private readonly nextFault = new Map<Operation, RioError.RioError>()
  private readonly everyFault = new Map<Operation, Fault>()
  private readonly latency = new Map<Operation, Duration.Duration>()
  /** The ids of `live`, lowest free first like RIO and io_uring, so tests can predict them. */
  private readonly ids: IdAllocator
  private lockedBytes = 0

  get lockedPages(): number {
    let pages = 0
    for (const registration of this.live.values()) pages += registration.pages
    return pages
  }

  failNext(operation: Operation, error: RioError.RioError): void {
    this.nextFault.set(operation, error)
  }

  failEvery(operation: Operation, every: number, error: RioError.RioError): void {
    this.everyFault.set(operation, { error, every, calls: 0 })
  }

  setLatency(operation: Operation, latency: Duration.DurationInput): void {
    this.latency.set(operation, Duration.decode(latency))
  }

  reset(): void {
    this.nextFault.clear()
    this.everyFault.clear()
    this.latency.clear()
    this.network.resetFaults()
  }

  readonly intercept: Intercept = (operation, canFail) => {
    const latency = this.latency.get(operation)
    const delay = latency === undefined ? undefined : Effect.sleep(latency)
    const fault = canFail ? this.takeFault(operation) : undefined
    if (fault === undefined) return delay
    this.history.push({ operation, outcome: "injected" })
    return delay === undefined ? Effect.fail(fault) : Effect.zipRight(delay, Effect.fail(fault))
  }

  /** Watches a scoped registration: deregistering it with tokens held is a violation. */
  track(registration: Tracked): void {
    this.tracked.set(registration.id, registration)
  }

  private takeFault(operation: Operation): RioError.RioError | undefined {
    const next = this.nextFault.get(operation)
    if (next !== undefined) {
      this.nextFault.delete(operation)
      return next
    }
    const every = this.everyFault.get(operation)
    if (every !== undefined && ++every.calls % every.every === 0) return every.error
    return undefined
  }

  readonly driver: Driver

  constructor(options: Options) {
    this.pageSize = options.pageSize ?? 4096
    this.maxBufferLength = options.maxBufferLength ?? DEFAULT_MAX_BUFFER_LENGTH
    const maxRegistrations = options.maxRegistrations ?? 16384
    // Unlimited is as many ids as stay small JS integers (as on Winsock RIO).
    this.maxRegistrations = maxRegistrations === Number.POSITIVE_INFINITY ? 0x7FFFFFFF : maxRegistrations
    if (!(Number.isSafeInteger(this.maxRegistrations) && this.maxRegistrations >= 0)) {
      throw new RangeError(`maxRegistrations must be a non-negative integer or Infinity, got ${maxRegistrations}`)
    }
    this.lockedMemoryLimit = options.lockedMemoryLimit ?? Number.POSITIVE_INFINITY
    this.ids = new IdAllocator(this.maxRegistrations)
    this.space = new AddressSpace(this.pageSize)
    this.network = new Network(options.completionQueueSize ?? Number.POSITIVE_INFINITY)
    this.driver = this.makeDriver(options)
  }

  private makeDriver(options: Options): Driver {
    return {
      backend: "test",
      pageSize: this.pageSize,
      maxBufferLength: this.maxBufferLength,
      ...(options.maxBufferLength === undefined ? { maxBufferLengthReason: DEFAULT_LIMIT_REASON } : {}),
      net: this.network.driver,
      addressOf: (bytes) => this.space.addressOf(bytes),
      register: (address, length) => {
        const fail = (error: RioError.RegisterError) => {
          this.history.push({ operation: "registerBuffer", outcome: error._tag, length })
          return error
        }
        if (!this.space.contains(address, length)) {
          return fail(
            new RioError.WSAEFAULT({
              operation: "RIORegisterBuffer",
              message: `Address 0x${address.toString(16)} (+${length}) is not memory this process owns.`
            })
          )
        }
        if (this.lockedBytes + length > this.lockedMemoryLimit) {
          return fail(
            new RioError.WSAENOBUFS({
              operation: "RIORegisterBuffer",
              message: `Locking ${length} more bytes would exceed the simulated locked-memory limit of ` +
                `${this.lockedMemoryLimit} bytes (${this.lockedBytes} in use). Release registrations or raise the limit.`
            })
          )
        }
        const taken = this.ids.take()
        if (taken === -1) {
          return fail(
            new RioError.WSAENOBUFS({
              operation: "RIORegisterBuffer",
              message: `All ${this.maxRegistrations} registration slots are in use. Release registrations or ` +
                "aggregate buffers (see BufferPool)."
            })
          )
        }
        const id = BufferId.unsafeMake(taken)
        this.live.set(id, { id, address, length, pages: pagesCovered(address, length, this.pageSize) })
        this.lockedBytes += length
        this.history.push({ operation: "registerBuffer", outcome: "ok", id, length })
        return id
      },
      deregister: (id) => {
        const registration = this.live.get(id)
        if (registration === undefined) {
          this.history.push({ operation: "deregisterBuffer", outcome: "WSAEINVAL", id })
          return new RioError.WSAEINVAL({
            operation: "RIODeregisterBuffer",
            message: `Buffer id ${id} is not registered.`
          })
        }
        const inFlight = this.tracked.get(id)?.inFlight ?? 0
        this.tracked.delete(id)
        if (inFlight > 0) this.violations.push({ _tag: "DeregisteredWithIoOutstanding", id, inFlight })
        this.live.delete(id)
        this.ids.release(id)
        this.lockedBytes -= registration.length
        this.history.push({ operation: "deregisterBuffer", outcome: "ok", id })
        return undefined
      },
      allocate: (byteLength) => {
        const bytes = new Uint8Array(byteLength)
        const memory = { address: this.space.allocate(bytes), bytes }
        this.history.push({ operation: "allocate", outcome: "ok", length: byteLength })
        return memory
      },
      free: (memory) => {
        // Like the real backends: a stale view stays safe to touch and reads zeros.
        this.space.release(memory.address)
        memory.bytes.fill(0)
        this.history.push({ operation: "free", outcome: "ok", length: memory.bytes.byteLength })
      }
    }
  }
}
