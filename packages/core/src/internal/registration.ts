import * as Effect from "effect/Effect"
import type { BufferId } from "../BufferId.js"
import * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"

/** What a registration needs from the service that made it. */
export interface Owner {
  readonly deregisterOwned: (registration: RegistrationImpl) => Effect.Effect<void>
  /** True when deregistration needs no effect (no test hook): the hot paths then release in place. */
  readonly isSynchronous: boolean
  readonly unsafeDeregisterOwned: (registration: RegistrationImpl) => Error | undefined
}

const OPEN = 0
const CLOSING = 1
const RELEASED = 2

/**
 * A live registration with its in-flight accounting. Every operation that hands a slice
 * to the kernel holds a token until its completion is consumed; release refuses new
 * tokens, waits for the count to reach zero, and only then deregisters.
 */
export class RegistrationImpl {
  private state = OPEN
  private tokens = 0
  private drained: (() => void) | undefined = undefined

  constructor(
    readonly owner: Owner,
    readonly id: BufferId,
    readonly address: bigint,
    readonly bytes: Uint8Array,
    readonly pages: number
  ) {}

  readonly owned = true

  get byteLength(): number {
    return this.bytes.byteLength
  }

  get inFlight(): number {
    return this.tokens
  }

  get isReleased(): boolean {
    return this.state !== OPEN
  }

  unsafeSlice(offset: number, length: number): RioBuf.RioBuf | RioError.WSAEINVAL {
    if (this.state !== OPEN) return this.useAfterRelease("RioBuf")
    return RioBuf.validate(this, offset, length)
  }

  slice(offset: number, length: number): Effect.Effect<RioBuf.RioBuf, RioError.WSAEINVAL> {
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

  /** Exactly once: later calls find the state moved on and do nothing. */
  get release(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.state !== OPEN) return Effect.void
      this.state = CLOSING
      if (this.tokens === 0) return this.finish()
      return Effect.zipRight(
        Effect.async<void>((resume) => {
          this.drained = () => resume(Effect.void)
        }),
        Effect.suspend(() => this.finish())
      )
    })
  }

  /**
   * The release, done in place when nothing is in flight: undefined once finished,
   * otherwise the effect that finishes it (waiting for tokens, or a test hook).
   */
  releaseNow(): Effect.Effect<void> | undefined {
    if (this.state !== OPEN) return undefined
    if (this.tokens > 0 || !this.owner.isSynchronous) return this.release
    this.state = RELEASED
    const error = this.owner.unsafeDeregisterOwned(this)
    return error === undefined ? undefined : Effect.die(error)
  }

  private finish(): Effect.Effect<void> {
    this.state = RELEASED
    return this.owner.deregisterOwned(this)
  }

  private useAfterRelease(operation: string) {
    return new RioError.WSAEINVAL({
      operation,
      message: `Registration ${this.id} has been released (or is being released): use it only inside its scope.`
    })
  }
}
