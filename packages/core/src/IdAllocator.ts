/**
 * Buffer ids (and other small ids) the way RIO and io_uring hand them out, for backends.
 *
 * @since 0.2.0
 */

/**
 * Buffer ids the way RIO and io_uring hand them out: the lowest free one first, so ids stay
 * small, dense and deterministic (tests can predict them). A bitmap that grows as ids are
 * taken, up to `capacity`; the common case is O(1), the worst a scan of one 32-bit word per 32 ids.
 *
 * @since 0.2.0
 * @category utils
 */
export class IdAllocator {
  private words = new Uint32Array(4)
  /** No free id lies in a word below this one. */
  private hint = 0
  private taken = 0

  constructor(readonly capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 0)) {
      throw new RangeError(`An IdAllocator's capacity must be a non-negative integer, got ${capacity}`)
    }
  }

  /**
   * Ids taken now.
   *
   * @since 0.2.0
   */
  get size(): number {
    return this.taken
  }

  /**
   * Takes the lowest free id; -1 when all `capacity` ids are taken.
   *
   * @since 0.2.0
   */
  take(): number {
    for (;;) {
      const words = this.words
      for (let w = this.hint; w < words.length; w++) {
        const free = ~words[w]!
        if (free === 0) continue
        this.hint = w
        const id = w * 32 + (31 - Math.clz32(free & -free))
        if (id >= this.capacity) return -1
        words[w] = words[w]! | (free & -free)
        this.taken++
        return id
      }
      if (words.length * 32 >= this.capacity) return -1
      this.hint = words.length
      const grown = new Uint32Array(words.length * 2)
      grown.set(words)
      this.words = grown
    }
  }

  /**
   * Whether `id` is taken.
   *
   * @since 0.2.0
   */
  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.words.length * 32 &&
      (this.words[id >>> 5]! & (1 << (id & 31))) !== 0
  }

  /**
   * Frees `id`; false when it was not taken.
   *
   * @since 0.2.0
   */
  release(id: number): boolean {
    if (!this.has(id)) return false
    this.words[id >>> 5] = this.words[id >>> 5]! & ~(1 << (id & 31))
    if (id >>> 5 < this.hint) this.hint = id >>> 5
    this.taken--
    return true
  }
}
