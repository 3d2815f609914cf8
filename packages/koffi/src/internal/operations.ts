/**
 * The operations a driver has in the kernel, found again by the 32-bit tag a completion
 * carries (io_uring's user_data, RIO's RequestContext): the operation's table entry in the
 * low 20 bits and the entry's generation above them, so that a late completion or cancel can
 * never be taken for a later operation in the same entry. Entry 0 is never used: a tag of 0
 * means "no operation" (io_uring's own ASYNC_CANCEL completions carry it).
 *
 * @internal
 */
import type { Done, NetDriverError, Pending } from "@effect-rio/core/Driver"

const ENTRY_BITS = 20
const ENTRY_MASK = (1 << ENTRY_BITS) - 1
const GENERATIONS = 1 << (32 - ENTRY_BITS)

/** The table of a driver's outstanding operations, by entry and by tag. */
export class OperationTable<T extends { readonly userData: number }> {
  private readonly live: Array<T | undefined> = [undefined]
  private readonly generation: Array<number> = [0]
  private readonly free: Array<number> = []
  /** Entries taken and not yet released. */
  count = 0

  /** An entry for the next operation, under a new generation. */
  take(): number {
    let entry = this.free.pop()
    if (entry === undefined) {
      entry = this.live.length
      this.live.push(undefined)
      this.generation.push(0)
    }
    this.generation[entry] = (this.generation[entry]! + 1) % GENERATIONS
    this.count++
    return entry
  }

  /** The tag of the operation now in `entry`. */
  userData(entry: number): number {
    return (this.generation[entry]! << ENTRY_BITS | entry) >>> 0
  }

  set(entry: number, operation: T): void {
    this.live[entry] = operation
  }

  /** The operation of a completion's tag, if it is still the one that was submitted. */
  get(userData: number): T | undefined {
    const operation = this.live[userData & ENTRY_MASK]
    return operation !== undefined && operation.userData === userData ? operation : undefined
  }

  /** Frees the entry of `userData` (taken, whether or not an operation was set in it). */
  release(userData: number): void {
    const entry = userData & ENTRY_MASK
    this.live[entry] = undefined
    this.free.push(entry)
    this.count--
  }

  /** Every operation in the table, as a list that releasing them does not disturb. */
  operations(): Array<T> {
    return this.live.filter((operation): operation is T => operation !== undefined)
  }
}

/** The `Pending` of an operation that cannot be cancelled, or need not be. */
export const nothingToCancel: Pending = { cancel: () => {} }

/**
 * An operation that ended before reaching the kernel (a socket that could not be created, a
 * send that needs no wait): `done` still runs later, never inside the call, as the driver
 * contract requires; there is nothing to cancel.
 */
export const completeLater = <A>(done: Done<A>, result: A | NetDriverError): Pending => {
  setImmediate(() => done(result))
  return nothingToCancel
}
