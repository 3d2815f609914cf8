/**
 * What a receive ring lends for one slot: a slice re-pointed at the slot's bytes each time the
 * slot is filled, and a view of them made on first use and kept while the fills are the same
 * bytes (a slot at one offset, messages of one length). One per slot, made once: a ring
 * allocates nothing per message, and a view only when a message's place or length changes.
 */
import type { SliceImpl } from "./registration.js"

export class SlotRecord {
  private view: Uint8Array | undefined = undefined

  constructor(readonly slot: number, readonly buf: SliceImpl) {}

  /** Made on first use after each fill, so a caller that never reads it costs nothing. */
  get bytes(): Uint8Array {
    const buf = this.buf
    if (this.view === undefined) this.view = buf.memory.subarray(buf.offset, buf.offset + buf.length)
    return this.view
  }

  /** The slot now holds `length` bytes at `offset` in the registration. */
  fillAt(offset: number, length: number): void {
    const buf = this.buf
    if (offset === buf.offset && length === buf.length) return
    buf.moveTo(offset, length)
    this.view = undefined
  }
}
