/**
 * A live registration with its in-flight tokens and exactly-once release, and the `RioBuf`
 * slices it makes.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { BufferId } from "../BufferId.js"
import type { Region } from "../Driver.js"
import * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { WriteRanges } from "./writeRanges.js"

/** What a registration needs from the service that made it. */
export interface Owner {
  /** Deregisters now, synchronously; the error is a bug (the service's table disagrees). */
  readonly deregisterOwned: (registration: RegistrationImpl) => Error | undefined
}

/** How a release waits for outstanding tokens: what to call it in warnings, and for how long at most. */
export interface ReleasePolicy {
  /** For warnings, for example `"BufferPool (8 slots of 64 bytes)"`; by default `"registration <id>"`. */
  readonly label: string | undefined
  /** Give up after this long: the registration then stays pinned and release fails with WSAETIMEDOUT. */
  readonly timeout: Duration.Duration | undefined
}

/** Wait as long as it takes, warning while waiting. */
export const defaultPolicy: ReleasePolicy = { label: undefined, timeout: undefined }

/** The first warning comes after this long; the next ones every `WARN_EVERY`. */
const WARN_AFTER = Duration.seconds(1)
const WARN_EVERY = Duration.seconds(10)

const OPEN = 0
const CLOSING = 1
const RELEASED = 2

/** Memory the library owns, as the service hands it out. */
export type AllocateOwned = (
  byteLength: number,
  policy: ReleasePolicy
) =>
  | { readonly registration: RegistrationImpl; readonly release: Effect.Effect<void> }
  | RioError.WSAEINVAL
  | RioError.WSAENOBUFS
  | RioError.RioSystemError

/**
 * A live registration with its in-flight accounting. Every operation that hands a slice
 * to the kernel holds a token until its completion is consumed; release refuses new
 * tokens, waits for the count to reach zero, and only then deregisters.
 */
export class RegistrationImpl {
  /** The service that made it: a slice is only usable on the backend that registered it. */
  get owner(): Owner {
    return this.ownerRef
  }

  private state = OPEN
  private tokens = 0
  private drained: (() => void) | undefined = undefined
  /** What receives in flight are writing, made by the first receive into this registration. */
  private writeRanges: WriteRanges | undefined = undefined

  get writes(): WriteRanges {
    return this.writeRanges ??= new WriteRanges()
  }

  constructor(
    private readonly ownerRef: Owner,
    readonly id: BufferId,
    readonly address: bigint,
    readonly bytes: Uint8Array,
    readonly pages: number,
    readonly policy: ReleasePolicy
  ) {
    this.base = Number(address)
  }

  /** `address` as a number, for drivers that write it into submissions on every operation. */
  readonly base: number

  get byteLength(): number {
    return this.bytes.byteLength
  }

  get inFlight(): number {
    return this.tokens
  }

  get isReleased(): boolean {
    return this.state !== OPEN
  }

  unsafeSlice(offset: number, length: number): SliceImpl | RioError.WSAEINVAL {
    if (this.state !== OPEN) return this.useAfterRelease("RioBuf")
    const valid = RioBuf.validate(this, offset, length)
    return valid instanceof RioError.WSAEINVAL ? valid : new SliceImpl(this, offset, length)
  }

  slice(offset: number, length: number): Effect.Effect<SliceImpl, RioError.WSAEINVAL> {
    return Effect.suspend(() => {
      const result = this.unsafeSlice(offset, length)
      return result instanceof RioError.WSAEINVAL ? Effect.fail(result) : Effect.succeed(result)
    })
  }

  unsafeAcquireToken(): RioError.WSAEINVAL | undefined {
    if (this.state !== OPEN) return this.useAfterRelease("acquireToken")
    this.tokens++
    return undefined
  }

  /** Returns false when no token was held: a caller gave back more than it took. */
  unsafeReleaseToken(): boolean {
    if (this.tokens === 0) return false
    if (--this.tokens === 0 && this.drained !== undefined) {
      const resume = this.drained
      this.drained = undefined
      resume()
    }
    return true
  }

  // Getters, not fields: a registration on the hot path should not pay for effects it never runs.
  get acquireToken(): Effect.Effect<void, RioError.WSAEINVAL> {
    return Effect.suspend(() => {
      const error = this.unsafeAcquireToken()
      return error === undefined ? Effect.void : Effect.fail(error)
    })
  }

  get releaseToken(): Effect.Effect<void> {
    return Effect.suspend(() =>
      this.unsafeReleaseToken()
        ? Effect.void
        : Effect.dieMessage(`releaseToken on registration ${this.id} without a token held`)
    )
  }

  withToken<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | RioError.WSAEINVAL, R> {
    return Effect.acquireUseRelease(this.acquireToken, () => effect, () => this.releaseToken)
  }

  /**
   * Releases exactly once: later calls find the state moved on and do nothing. In place
   * (undefined) when nothing is in flight; otherwise the effect that waits for the tokens,
   * warns while it waits, and deregisters — or, past the policy's bound, fails with
   * WSAETIMEDOUT and leaves the registration pinned.
   */
  releaseNow(): Effect.Effect<void, RioError.WSAETIMEDOUT> | undefined {
    if (this.state !== OPEN) return undefined
    this.state = CLOSING
    if (this.tokens > 0) {
      return Effect.onInterrupt(
        Effect.zipRight(this.awaitTokens(), Effect.suspend(() => this.finishEffect())),
        () => Effect.sync(() => this.finishWhenDrained())
      )
    }
    return this.finish()
  }

  /**
   * The wait for the tokens was interrupted (the releasing fiber was, while its finalizer
   * waited): deregister when the last token comes back all the same, or the registration
   * would stay pinned after its scope closed.
   */
  private finishWhenDrained(): void {
    if (this.state !== CLOSING) return
    const finish = () => {
      const failed = this.finish()
      // Nothing awaits this deregistration any more: a failure can only be reported.
      if (failed !== undefined) Effect.runFork(Effect.catchAllCause(failed, Effect.logError))
    }
    if (this.tokens === 0) return finish()
    this.drained = finish
  }

  private finish(): Effect.Effect<void> | undefined {
    this.state = RELEASED
    const error = this.ownerRef.deregisterOwned(this)
    return error === undefined ? undefined : Effect.die(error)
  }

  private finishEffect(): Effect.Effect<void> {
    return this.finish() ?? Effect.void
  }

  /**
   * Waits for the last token, with warnings that name what is outstanding. Interruptible
   * inside an uninterruptible finalizer, so that the warning timer can cut in.
   */
  private awaitTokens(): Effect.Effect<void, RioError.WSAETIMEDOUT> {
    const drained = Effect.interruptible(Effect.async<void>((resume) => {
      // The wait may start a little after it was asked for (in a fiber of its own): the last
      // token may have come back in between.
      if (this.tokens === 0) return resume(Effect.void)
      this.drained = () => resume(Effect.void)
      return Effect.sync(() => {
        this.drained = undefined
      })
    }))
    const timeout = this.policy.timeout
    const step = (started: number, waited: Duration.Duration): Effect.Effect<void, RioError.WSAETIMEDOUT> => {
      if (this.tokens === 0) return Effect.void
      const next = Duration.sum(waited, Duration.equals(waited, Duration.zero) ? WARN_AFTER : WARN_EVERY)
      const until = timeout !== undefined && Duration.lessThan(timeout, next) ? timeout : next
      return Effect.timeoutTo(drained, {
        duration: Duration.subtract(until, waited),
        onSuccess: () => Effect.void,
        onTimeout: () =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const elapsed = Duration.millis(now - started)
            if (timeout !== undefined && Duration.greaterThanOrEqualTo(until, timeout)) {
              const error = this.timedOut(elapsed)
              return Effect.zipRight(Effect.logError(error.message), Effect.fail(error))
            }
            return Effect.zipRight(Effect.logWarning(this.stillWaiting(elapsed)), step(started, until))
          })
      }).pipe(Effect.flatten)
    }
    return Effect.flatMap(Clock.currentTimeMillis, (started) => step(started, Duration.zero))
  }

  private stillWaiting(elapsed: Duration.Duration): string {
    const bound = this.policy.timeout === undefined
      ? "with no bound (set releaseTimeout to give up)"
      : `giving up after ${Duration.format(this.policy.timeout)}`
    return `effect-rio: releasing ${this.label} waits for ${this.tokens} outstanding token(s) — I/O in flight or ` +
      `leases — (${Duration.format(elapsed)} so far), ${bound}. Something holds them outside the scope that owns ` +
      "the registration."
  }

  private timedOut(elapsed: Duration.Duration): RioError.WSAETIMEDOUT {
    return new RioError.WSAETIMEDOUT({
      operation: "RIODeregisterBuffer",
      message: `Releasing ${this.label} gave up after ${Duration.format(elapsed)} with ${this.tokens} ` +
        "token(s) — I/O in flight or leases — still outstanding. The registration stays pinned and its memory " +
        "is not freed, so nothing the kernel may still touch is released; the backend releases it when its layer closes.",
      cause: { bufferId: this.id, outstanding: this.tokens }
    })
  }

  private get label(): string {
    return this.policy.label ?? `registration ${this.id}`
  }

  private useAfterRelease(operation: string) {
    return new RioError.WSAEINVAL({
      operation,
      message: `Registration ${this.id} has been released (or is being released): use it only inside its scope.`
    })
  }
}

/**
 * A `RioBuf` made by a registration: the plain fields, plus (privately) the registration it
 * belongs to, so that a socket can take its token, reject a slice of another backend or of a
 * released registration, and hand it to the driver as its `Region` (base address and memory)
 * without a lookup.
 */
export class SliceImpl implements RioBuf.RioBuf, Region {
  // Declared in RIO_BUF's order, so that a slice prints and spreads as { bufferId, offset, length }.
  readonly bufferId: BufferId
  // Writable only for a receive ring's slices, which are re-pointed at each datagram (see `moveTo`).
  offset: number
  length: number
  readonly #registration: RegistrationImpl
  #revoked = false

  constructor(registration: RegistrationImpl, offset: number, length: number) {
    this.bufferId = registration.id
    this.offset = offset
    this.length = length
    this.#registration = registration
  }

  get registration(): RegistrationImpl {
    return this.#registration
  }

  /** True once the lease this slice was made for went back to its pool: I/O on it is refused. */
  get revoked(): boolean {
    return this.#revoked
  }

  /** Ends the slice's use (its lease was returned): private so that a spread copies none of it. */
  revoke(): void {
    this.#revoked = true
  }

  get base(): number {
    return this.#registration.base
  }

  get memory(): Uint8Array {
    return this.#registration.bytes
  }

  /**
   * Re-points a receive ring's slice at the datagram its slot now holds, so that a ring
   * allocates nothing per datagram. The caller owns the slice only until its batch ends.
   */
  moveTo(offset: number, length: number): void {
    this.offset = offset
    this.length = length
  }

  /** `[offset + from, offset + from + length)`: for sending the rest of a slice. */
  sub(from: number, length: number): SliceImpl {
    return new SliceImpl(this.#registration, this.offset + from, length)
  }
}
