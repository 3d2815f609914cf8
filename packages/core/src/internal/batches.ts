/**
 * The batch calls of both socket kinds (`receiveMany`, `withReceived`) over a receive ring:
 * wait for news, take what is ready, and give it back when the batch ends — however it ends.
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { SocketError } from "../RegisteredSocket.js"
import { invalid } from "./address.js"
import type { SocketMetrics } from "./observability.js"

/** A receive ring as the batch calls see it. */
export interface BatchSource<T> {
  /**
   * Up to `max` ready entries (lent to the caller until `giveBack`), the error at the front,
   * or `undefined` when nothing is ready yet.
   */
  readonly takeNow: (max: number) => ReadonlyArray<T> | SocketError | undefined
  /** Resumes once `takeNow` would find something. */
  readonly awaitNews: Effect.Effect<void>
  readonly giveBack: (batch: ReadonlyArray<T>) => void
}

export const DEFAULT_BATCH = 64

/** Waiters beyond this many are woken anyway, so that interrupted ones cannot pile up. */
const MAX_WAITERS = 1024

/**
 * The fibers waiting for a ring to have news, woken all at once: once per batch of
 * completions, not once per message.
 *
 * A waiter registers no canceller (one costs as much again as the wait itself): an
 * interrupted waiter stays in the line, and waking it does nothing (its fiber ignores a
 * second resumption). So that a loop of interrupted waits on a quiet ring cannot grow the
 * line without end, a line that reaches `MAX_WAITERS` is woken at once; a live waiter then
 * finds nothing and waits again.
 */
export class Waiters {
  private waiting: Array<() => void> = []
  private spare: Array<() => void> = []

  constructor(private readonly hasNews: () => boolean) {}

  /** Resumes at once if there is news, else at the next `wakeAll`. */
  readonly await: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.hasNews()) return resume(Effect.void)
    if (this.waiting.push(() => resume(Effect.void)) >= MAX_WAITERS) this.wakeAll()
  })

  get some(): boolean {
    return this.waiting.length > 0
  }

  wakeAll(): void {
    // Swapped first: a woken fiber may wait again before this loop ends.
    const woken = this.waiting
    this.waiting = this.spare
    this.spare = woken
    // A woken fiber takes what is ready when it runs, so later arrivals join its batch.
    for (let i = 0; i < woken.length; i++) woken[i]!()
    woken.length = 0
  }
}

const checkMax = (operation: string, max: number): SocketError | undefined =>
  Number.isSafeInteger(max) && max >= 1
    ? undefined
    : invalid(operation, `max ${String(max)} is not a positive integer.`)

/**
 * The ring a batch call takes from: at once when it is open (or cannot be), else the Effect
 * that opens it.
 */
export type OpenSource<T> = () => BatchSource<T> | SocketError | Effect.Effect<BatchSource<T>, SocketError>

/**
 * Waits for news, then takes a batch — uninterruptible from taking it until `lend` has armed
 * its return, so that an interruption can never strand slots. The socket's failures are
 * counted in `metrics` (not those of a `withReceived` caller's own code).
 */
const takeBatch = <T, A, E, R>(
  operation: string,
  open: OpenSource<T>,
  max: number,
  metrics: SocketMetrics,
  lend: (
    source: BatchSource<T>,
    batch: ReadonlyArray<T>,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
  ) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | SocketError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const bad = checkMax(operation, max)
      if (bad !== undefined) return metrics.fail(bad)
      const from = (source: BatchSource<T>): Effect.Effect<A, E | SocketError, R> => {
        const taken = source.takeNow(max)
        if (taken === undefined) return Effect.flatMap(restore(source.awaitNews), () => from(source))
        if (taken instanceof Error) return metrics.fail(taken)
        return lend(source, taken, restore)
      }
      const source = open()
      // (An error is checked first: the typed errors are Effects too.)
      if (source instanceof Error) return metrics.fail(source)
      return Effect.isEffect(source) ? Effect.flatMap(metrics.counted(source), from) : from(source)
    })
  )

/** `receiveMany`: the batch is the caller's until the scope closes. */
export const receiveMany = <T>(
  operation: string,
  open: OpenSource<T>,
  max: number,
  metrics: SocketMetrics
): Effect.Effect<ReadonlyArray<T>, SocketError, Scope.Scope> =>
  takeBatch(operation, open, max, metrics, (source, batch) =>
    Effect.as(
      Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.sync(() => source.giveBack(batch)))),
      batch
    ))

/** `withReceived`: the batch is the caller's while `use` runs. */
export const withReceived = <T, A, E, R>(
  operation: string,
  open: OpenSource<T>,
  use: (batch: ReadonlyArray<T>) => Effect.Effect<A, E, R>,
  max: number,
  metrics: SocketMetrics
): Effect.Effect<A, E | SocketError, R> =>
  takeBatch(
    operation,
    open,
    max,
    metrics,
    (source, batch, restore) => {
      // Still uninterruptible here: the batch goes back however `use` ends, even by throwing.
      let used: Effect.Effect<A, E, R>
      try {
        used = use(batch)
      } catch (defect) {
        used = Effect.die(defect)
      }
      return Effect.flatMap(Effect.exit(restore(used)), (exit) => {
        source.giveBack(batch)
        return exit
      })
    }
  )
