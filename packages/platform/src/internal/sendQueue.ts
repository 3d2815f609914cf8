import * as Effect from "effect/Effect"

/**
 * One queued write: what to send, and how to tell its writer the outcome (a no-op once the
 * writer stopped waiting).
 */
export interface Item<C, E> {
  readonly chunk: C
  readonly settle: (outcome: Effect.Effect<void, E>) => void
}

/**
 * The queue between a socket's writers and its one sender (the Outbox). A plain array with one
 * callback per write, not an Effect `Queue` plus a `Deferred` per write: those cost more per
 * message than everything else in the write path (Socket echo benchmark, bench/net).
 *
 * Bounded like `Queue.bounded(capacity)`: with `capacity` writes queued, a writer waits for
 * room, and interrupting it then withdraws its write. Once queued, a write is sent even if
 * its writer stops waiting, as with NodeSocket.
 */
export class SendQueue<C, E> {
  private items: Array<Item<C, E>> = []
  /** Writes waiting for room, in order. */
  private readonly waiting: Array<Item<C, E>> = []
  private taker: (() => void) | undefined
  private closedWith: Effect.Effect<never, E> | undefined

  constructor(private readonly capacity: number) {}

  /** Queues `chunk` and waits until the sender settles it (or the queue closes). */
  offer(chunk: C): Effect.Effect<void, E> {
    return Effect.async<void, E>((resume) => {
      let settled = false
      const item: Item<C, E> = {
        chunk,
        settle: (outcome) => {
          if (settled) return
          settled = true
          resume(outcome)
        }
      }
      if (this.push(item)) return
      return Effect.sync(() => {
        const at = this.waiting.indexOf(item)
        if (at >= 0) this.waiting.splice(at, 1)
      })
    })
  }

  /**
   * Queues `item` without an Effect: in the queue if there is room, else behind the writes
   * waiting for it (false; its writer may withdraw it). A closed queue settles it at once.
   */
  push(item: Item<C, E>): boolean {
    if (this.closedWith !== undefined) {
      item.settle(this.closedWith)
      return true
    }
    if (this.items.length < this.capacity && this.waiting.length === 0) {
      this.items.push(item)
      this.wakeTaker()
      return true
    }
    this.waiting.push(item)
    return false
  }

  /** Queues `chunk` past the bound, settled by nobody: for the writer's release (half-close). */
  unsafeOfferUnbounded(chunk: C): void {
    if (this.closedWith !== undefined) return
    // Behind the writes waiting for room, if any: the order of the stream is the order of the writes.
    if (this.waiting.length === 0) this.items.push({ chunk, settle: noop })
    else this.waiting.push({ chunk, settle: noop })
    this.wakeTaker()
  }

  /** Every queued write now, without an Effect (none if there is none). */
  takeNow(): Array<Item<C, E>> {
    return this.items.length > 0 ? this.takeItems() : []
  }

  /** Calls `wake` once, when there is something to take: at once if there is (the taker's place). */
  onReady(wake: () => void): void {
    if (this.items.length > 0) return wake()
    this.taker = wake
  }

  /** Fails every queued and waiting write, and every later one, with `error`. */
  close(error: E): void {
    if (this.closedWith !== undefined) return
    this.closedWith = Effect.fail(error)
    const stranded = [...this.items, ...this.waiting.splice(0)]
    this.items = []
    for (const item of stranded) item.settle(this.closedWith)
  }

  private takeItems(): Array<Item<C, E>> {
    const batch = this.items
    // The room just made goes to the writers waiting for it, in order.
    this.items = this.waiting.splice(0, this.capacity)
    return batch
  }

  private wakeTaker(): void {
    const taker = this.taker
    if (taker === undefined) return
    this.taker = undefined
    taker()
  }
}

const noop = (): void => {}
