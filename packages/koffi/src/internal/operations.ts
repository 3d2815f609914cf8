/**
 * The operations a driver has in the kernel, found again by the 32-bit tag a completion
 * carries (io_uring's user_data, RIO's RequestContext): the operation's slot in the low 20
 * bits and the slot's generation above them, so that a late completion or cancel can never
 * be taken for a later operation in the same slot. Slot 0 is never used: a tag of 0 means
 * "no operation" (io_uring's own ASYNC_CANCEL completions carry it).
 *
 * @internal
 */
const SLOT_BITS = 20
const SLOT_MASK = (1 << SLOT_BITS) - 1
const GENERATIONS = 1 << (32 - SLOT_BITS)

export class OperationTable<T extends { readonly userData: number }> {
  private readonly live: Array<T | undefined> = [undefined]
  private readonly generation: Array<number> = [0]
  private readonly free: Array<number> = []
  /** Slots taken and not yet released. */
  count = 0

  /** A slot for the next operation, under a new generation. */
  take(): number {
    let slot = this.free.pop()
    if (slot === undefined) {
      slot = this.live.length
      this.live.push(undefined)
      this.generation.push(0)
    }
    this.generation[slot] = (this.generation[slot]! + 1) % GENERATIONS
    this.count++
    return slot
  }

  /** The tag of the operation now in `slot`. */
  userData(slot: number): number {
    return (this.generation[slot]! << SLOT_BITS | slot) >>> 0
  }

  set(slot: number, operation: T): void {
    this.live[slot] = operation
  }

  /** The operation of a completion's tag, if it is still the one that was submitted. */
  get(userData: number): T | undefined {
    const operation = this.live[userData & SLOT_MASK]
    return operation !== undefined && operation.userData === userData ? operation : undefined
  }

  /** Frees the slot of `userData` (taken, whether or not an operation was set in it). */
  release(userData: number): void {
    const slot = userData & SLOT_MASK
    this.live[slot] = undefined
    this.free.push(slot)
    this.count--
  }

  /** Every operation in the table, as a list that releasing them does not disturb. */
  operations(): Array<T> {
    return this.live.filter((operation): operation is T => operation !== undefined)
  }
}
