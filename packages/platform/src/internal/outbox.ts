/**
 * The write side of a `RioSocket` without a fiber: the writes queued in one turn are copied
 * into a registered send slot and leave in one send (`unsafeSendNow`), and the next batch
 * starts from the send's completion. A round per message costs no Effect — the sending fiber
 * it replaces cost more than the rest of the echo path (bench/net, Socket echo).
 *
 * A send never waits for room with the slot in hand (`unsafeSendNow`): when the peer reads
 * slower than it is written to, what the kernel did not take is copied out of the slot, the
 * slot goes back to the line, and the outbox waits for room (`unsafeWhenWritable`) before it
 * takes one again. So connections that stop reading cannot starve the others of send slots.
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RegisteredSocket from "@effect-rio/core/RegisteredSocket"
import type * as RioBuf from "@effect-rio/core/RioBuf"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Item, SendQueue } from "./sendQueue.js"

/**
 * Send slots lent without an Effect: one registration cut into equal slots, shared by every
 * connection of a server (or a client's own). A connection that finds none waits in line and
 * is called back with the next one given back.
 */
export class SendSlots {
  private readonly free: Array<number> = []
  private readonly line: Array<(slot: number) => void> = []
  private readonly views: Array<Uint8Array> = []
  /** Hand-overs not yet made (a callback, then its slot), while `give` is already handing. */
  private readonly handoffs: Array<((slot: number) => void) | number> = []
  private handing = false

  constructor(readonly registration: RegisteredIo.Registration, readonly slotSize: number, count: number) {
    for (let slot = count - 1; slot >= 0; slot--) {
      this.free.push(slot)
      this.views[slot] = registration.bytes.subarray(slot * slotSize, (slot + 1) * slotSize)
    }
  }

  /** A slot now, or later through `then` (in line order); `undefined` when it will come later. */
  take(then: (slot: number) => void): number | undefined {
    const slot = this.free.pop()
    if (slot === undefined) this.line.push(then)
    return slot
  }

  /** Leaves the line (a connection that closed while it waited). */
  leave(then: (slot: number) => void): void {
    const at = this.line.indexOf(then)
    if (at >= 0) this.line.splice(at, 1)
  }

  /**
   * Back from a connection: to the first in line, else free. Handed over in a loop, not by
   * recursion: a connection whose batch needs no send (an end, a close) gives the slot back
   * from inside its hand-over, and a long line would otherwise run as deep as it is long.
   */
  give(slot: number): void {
    const next = this.line.shift()
    if (next === undefined) return void this.free.push(slot)
    this.handoffs.push(next, slot)
    if (this.handing) return
    this.handing = true
    try {
      while (this.handoffs.length > 0) {
        const then = this.handoffs.shift() as (slot: number) => void
        then(this.handoffs.shift() as number)
      }
    } finally {
      this.handing = false
    }
  }

  bytes(slot: number): Uint8Array {
    return this.views[slot]!
  }

  /** The first `length` bytes of `slot`: always in range, so never an error. */
  buf(slot: number, length: number): RioBuf.RioBuf {
    return this.registration.unsafeSlice(slot * this.slotSize, length) as RioBuf.RioBuf
  }
}

/** What the outbox does besides sending bytes and text, for the socket it serves. */
export interface Controls<C, E> {
  /** Whether `chunk` marks the half-close (Node's `end()`), after what is before it. */
  readonly isEnd: (chunk: C) => boolean
  readonly halfClose: () => RegisteredSocket.SocketError | undefined
  /** Any other chunk that is neither bytes nor text closes: `run` ends; nothing after it is sent. */
  readonly close: (chunk: C) => void
  /** A send failed: `run` ends with it; the batch's writes fail with what this returns. */
  readonly failed: (error: RegisteredSocket.SocketError) => E
  /** What writes fail with that never went because `run` ended. */
  readonly closedError: () => E
}

const encoder = new TextEncoder()

/** One connection's sender: at most one batch at a time, one send of it in the kernel at a time. */
export class Outbox<C, E> {
  private batch: Array<Item<C, E>> = []
  /** The item being copied, and how far (bytes of a Uint8Array; characters of a string). */
  private index = 0
  private offset = 0
  private slot = -1
  private filled = 0
  /** The bytes of the last send the kernel did not take (at most a slot's), sent first. */
  private carry: Uint8Array | undefined = undefined
  private busy = false
  private sending = false
  private scheduled = false
  /** `run` ended, or a close went: nothing more is sent. */
  private stopped = false

  constructor(
    private readonly queue: SendQueue<C, E>,
    private readonly slots: SendSlots,
    private readonly stream: RegisteredSocket.TcpStream<RegisteredSocket.SocketAddress | RegisteredSocket.UnixAddress>,
    private readonly controls: Controls<C, E>
  ) {
    queue.onReady(this.wake)
  }

  /** `run` ended: a batch under way fails its writes; the slot goes back once its send completed. */
  stop(): void {
    this.stopped = true
    this.slots.leave(this.gotSlot)
    if (!this.sending) this.release()
    this.settleBatch(Effect.fail(this.controls.closedError()))
  }

  // Writes queued in this turn go together: the batch starts after the turn's callbacks.
  private readonly wake = (): void => {
    if (this.scheduled || this.busy || this.stopped) return
    this.scheduled = true
    queueMicrotask(this.start)
  }

  private readonly start = (): void => {
    this.scheduled = false
    if (this.busy || this.stopped) return
    const batch = this.queue.takeNow()
    if (batch.length === 0) return this.queue.onReady(this.wake)
    this.batch = batch
    this.index = 0
    this.offset = 0
    this.busy = true
    this.fill()
  }

  private readonly gotSlot = (slot: number): void => {
    this.slot = slot
    if (this.stopped) return this.release()
    this.fill()
  }

  /** Copies from where it stopped until the slot is full or the batch is copied, then sends. */
  private fill(): void {
    if (this.slot < 0 && this.carry === undefined && !this.needsSlot()) return
    if (this.slot < 0) {
      const slot = this.slots.take(this.gotSlot)
      if (slot === undefined) return
      this.slot = slot
    }
    const room = this.slots.bytes(this.slot)
    if (this.carry !== undefined) {
      room.set(this.carry)
      this.filled = this.carry.length
      this.carry = undefined
    }
    const { batch } = this
    while (this.index < batch.length) {
      const chunk = batch[this.index]!.chunk
      if (this.filled === room.length) return this.send()
      if (chunk instanceof Uint8Array) {
        const n = Math.min(chunk.length - this.offset, room.length - this.filled)
        room.set(chunk.subarray(this.offset, this.offset + n), this.filled)
        this.filled += n
        this.offset += n
        if (this.offset === chunk.length) this.next()
      } else if (typeof chunk === "string") {
        const rest = this.offset === 0 ? chunk : chunk.slice(this.offset)
        const { read, written } = encoder.encodeInto(rest, room.subarray(this.filled))
        this.filled += written
        this.offset += read
        if (this.offset === chunk.length) this.next()
        else if (read === 0) return this.send()
      } else if (this.filled > 0) {
        // An end or a close follows the bytes before it.
        return this.send()
      } else if (!this.control(chunk)) {
        return
      }
    }
    if (this.filled > 0) return this.send()
    this.finish()
  }

  /**
   * Goes through what needs no slot at the batch's head — empty writes, an end, a close — so
   * that a connection that only ends or closes never waits in line for one; whether bytes follow.
   */
  private needsSlot(): boolean {
    const { batch } = this
    while (this.index < batch.length) {
      const chunk = batch[this.index]!.chunk
      if (chunk instanceof Uint8Array || typeof chunk === "string") {
        if (chunk.length > 0) return true
        this.next()
      } else if (!this.control(chunk)) {
        return false
      }
    }
    this.finish()
    return false
  }

  /**
   * An end or a close with nothing copied before it: the half-close, and on to the next write
   * (true); or the close, which stops the outbox, or a failed half-close (false: the batch is over).
   */
  private control(chunk: C): boolean {
    const { controls } = this
    if (controls.isEnd(chunk)) {
      const error = controls.halfClose()
      if (error !== undefined) {
        this.fail(error)
        return false
      }
      this.next()
      return true
    }
    this.next()
    this.stopped = true
    controls.close(chunk)
    this.finish()
    return false
  }

  private next(): void {
    this.index++
    this.offset = 0
  }

  private send(): void {
    this.sending = true
    this.stream.unsafeSendNow([this.slots.buf(this.slot, this.filled)], this.sent)
  }

  private readonly sent = (error: RegisteredSocket.SocketError | undefined, sent: number): void => {
    this.sending = false
    if (this.stopped) return this.release()
    if (error !== undefined) return this.fail(error)
    const length = this.filled
    this.filled = 0
    if (sent === length) return this.fill()
    this.carry = this.slots.bytes(this.slot).slice(sent, length)
    this.release()
    this.stream.unsafeWhenWritable(this.writable)
  }

  private readonly writable = (error: RegisteredSocket.SocketError | undefined): void => {
    if (this.stopped) return
    if (error !== undefined) return this.fail(error)
    this.fill()
  }

  private fail(error: RegisteredSocket.SocketError): void {
    this.stopped = true
    const failure = Effect.fail(this.controls.failed(error))
    this.release()
    this.settleBatch(failure)
  }

  /** The batch went (up to a close, if any): its writes succeed, those after a close fail. */
  private finish(): void {
    this.release()
    this.settleBatch(Effect.void)
    if (!this.stopped) this.queue.onReady(this.wake)
  }

  private release(): void {
    if (this.slot < 0) return
    const slot = this.slot
    this.slot = -1
    this.filled = 0
    this.slots.give(slot)
  }

  /** Writes before `index` with `outcome` (a success only if they all went), the rest failed as closed. */
  private settleBatch(outcome: Effect.Effect<void, E>): void {
    const { batch, index } = this
    if (batch.length === 0) return
    this.batch = []
    this.busy = false
    for (let i = 0; i < batch.length && i < index; i++) batch[i]!.settle(outcome)
    if (index >= batch.length) return
    // Made only when needed: an error captures a stack trace, which costs more than a send.
    const closed = Exit.isSuccess(outcome as Exit.Exit<void, E>) ? Effect.fail(this.controls.closedError()) : outcome
    for (let i = index; i < batch.length; i++) batch[i]!.settle(closed)
  }
}
