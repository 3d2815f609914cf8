/**
 * The byte ranges of one registration that receives in flight are writing, so that a second
 * receive into any of those bytes is refused instead of racing the first: two writers of one
 * byte leave it holding either's data, and neither caller can tell.
 */

/**
 * Ranges `[start, end)` as two parallel arrays, scanned in full: a registration rarely has
 * more than a socket's queue depth of receives in flight, and the scan allocates nothing.
 */
export class WriteRanges {
  private starts: Float64Array = new Float64Array(8)
  private ends: Float64Array = new Float64Array(8)
  private count = 0

  /** Takes `[start, end)`, or returns the range in flight it overlaps. */
  claim(start: number, end: number): readonly [start: number, end: number] | undefined {
    const { count, ends, starts } = this
    for (let i = 0; i < count; i++) {
      if (start < ends[i]! && starts[i]! < end) return [starts[i]!, ends[i]!]
    }
    if (count === starts.length) this.grow()
    this.starts[count] = start
    this.ends[count] = end
    this.count = count + 1
    return undefined
  }

  /** Gives back a range that `claim` took. */
  release(start: number, end: number): void {
    const { ends, starts } = this
    const last = this.count - 1
    for (let i = last; i >= 0; i--) {
      if (starts[i] === start && ends[i] === end) {
        starts[i] = starts[last]!
        ends[i] = ends[last]!
        this.count = last
        return
      }
    }
  }

  /** Ranges in flight now. */
  get size(): number {
    return this.count
  }

  private grow(): void {
    const starts = new Float64Array(this.starts.length * 2)
    const ends = new Float64Array(this.ends.length * 2)
    starts.set(this.starts)
    ends.set(this.ends)
    this.starts = starts
    this.ends = ends
  }
}
