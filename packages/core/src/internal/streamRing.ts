/**
 * TCP receive rings: one registration cut into equal slots, shared by every stream of a
 * listener (or owned by one connected stream), so that pinned memory does not grow with the
 * number of connections. The kernel fills a free slot with a stream's next chunk; the chunk
 * waits in that stream's queue, in order, until a caller takes it; when the caller's batch
 * ends the slot goes back to the kernel for any stream.
 *
 * A stream holds at most `maxPerStream` slots (ready or lent): then its receiving pauses and
 * its bytes wait in the socket — so one stream that is never read cannot take every slot from
 * the others. It resumes as soon as it holds fewer.
 *
 * Nothing here is allocated per chunk: each slot has one record, re-pointed at each fill, and
 * a stream's order of ready slots is a typed array.
 */
import * as Effect from "effect/Effect"
import type { NetDriver, NetDriverError, NetSocket, StreamReceiver, StreamSink, StreamSlots } from "../Driver.js"
import type { ReceivedChunk, ReceiveRingInfo, SocketError, StreamRingOptions } from "../RegisteredSocket.js"
import type * as RioError from "../RioError.js"
import { checkRingOption, invalid, MAX_RING_SLOTS } from "./address.js"
import type { BatchSource } from "./batches.js"
import { Waiters } from "./batches.js"
import type { SocketMetrics } from "./observability.js"
import { postedStreams } from "./postedStreams.js"
import type { AllocateOwned, RegistrationImpl } from "./registration.js"
import { SliceImpl } from "./registration.js"
import { aborted } from "./requests.js"
import { SlotRecord } from "./slotRecord.js"

const DEFAULT_SLOT_SIZE = 4096
const DEFAULT_SLOTS = 256
const MAX_SLOT_SIZE = 1 << 20

/** The options as given, or the typed error that names the bad one. */
export const checkStreamRing = (
  operation: string,
  ring: StreamRingOptions | undefined
): RioError.WSAEINVAL | undefined => {
  if (ring === undefined) return undefined
  return checkRingOption(operation, "slotSize", ring.slotSize, MAX_SLOT_SIZE) ??
    checkRingOption(operation, "slots", ring.slots, MAX_RING_SLOTS) ??
    checkRingOption(operation, "maxPerStream", ring.maxPerStream, ring.slots ?? DEFAULT_SLOTS)
}

/** The slots of one live ring: its registration, a record per slot, and the kernel's side. */
class Slots {
  readonly records: Array<SlotRecord>
  /** Slots out of the kernel's hands (ready or lent, any stream's): all of them is an empty ring. */
  private held = 0

  constructor(
    readonly registration: RegistrationImpl,
    readonly slotBytes: number,
    readonly count: number,
    readonly kernel: StreamSlots,
    readonly release: Effect.Effect<void>,
    readonly metrics: SocketMetrics
  ) {
    this.records = Array.from(
      { length: count },
      (_, slot) => new SlotRecord(slot, new SliceImpl(registration, slot * slotBytes, slotBytes))
    )
  }

  /** A slot left the kernel's hands with a stream's bytes. */
  take(): void {
    if (++this.held === this.count) this.metrics.ringEmpty()
  }

  /** A slot goes back to the kernel. */
  recycle(slot: number): void {
    this.held--
    this.kernel.recycle(slot)
  }
}

/**
 * A ring that streams join: made on the first join, released when the last holder leaves (a
 * listener holds it from `listen` until it closes; each stream from its first batch call).
 */
export class StreamRing {
  private slots: Slots | undefined = undefined
  private holders = 0
  private readonly slotSize: number
  private readonly count: number
  private readonly maxPerStream: number

  constructor(
    private readonly net: NetDriver,
    private readonly allocateOwned: AllocateOwned,
    private readonly label: string,
    options: StreamRingOptions | undefined,
    shared: boolean,
    private readonly metrics: SocketMetrics
  ) {
    this.slotSize = options?.slotSize ?? DEFAULT_SLOT_SIZE
    this.count = options?.slots ?? DEFAULT_SLOTS
    this.maxPerStream = options?.maxPerStream ?? (shared ? Math.max(1, Math.floor(this.count / 4)) : this.count)
  }

  /** Counts a holder that keeps the ring alive without receiving (the listener). */
  hold(): void {
    this.holders++
  }

  /** Starts receiving `socket` through the ring, making the ring first if it is not there. */
  join(socket: NetSocket): Effect.Effect<StreamQueue, SocketError> {
    return Effect.suspend(() => {
      const slots = this.slots ?? this.open()
      if (slots instanceof Error) return Effect.fail(slots)
      const queue = new StreamQueue(slots, this.maxPerStream)
      const receiver = slots.kernel.receive(socket, queue)
      if (receiver instanceof Error) {
        // A ring made for this join alone goes again.
        return Effect.zipRight(this.holders === 0 ? this.closeSlots() : Effect.void, Effect.fail(receiver))
      }
      this.holders++
      queue.attach(receiver)
      return Effect.succeed(queue)
    })
  }

  private open(): Slots | SocketError {
    const { count, slotSize } = this
    const owned = this.allocateOwned(slotSize * count, {
      label: `the receive ring of ${this.label} (${count} slots of ${slotSize} bytes)`,
      timeout: undefined
    })
    if (!("registration" in owned)) return owned
    const memory = new SliceImpl(owned.registration, 0, slotSize * count)
    const rings = this.net.tcpReceiveRings
    const kernel = rings === undefined
      ? postedStreams(this.net, Array.from({ length: count }, (_, slot) => memory.sub(slot * slotSize, slotSize)))
      : rings.open(memory, slotSize, count)
    if (kernel instanceof Error) {
      Effect.runSync(owned.release)
      return kernel
    }
    this.slots = new Slots(owned.registration, slotSize, count, kernel, owned.release, this.metrics)
    return this.slots
  }

  /** A holder is gone; the last one lets the kernel go of the slots, then frees their memory. */
  readonly leave: Effect.Effect<void> = Effect.suspend(() => {
    if (--this.holders > 0) return Effect.void
    return this.closeSlots()
  })

  private closeSlots(): Effect.Effect<void> {
    const slots = this.slots
    if (slots === undefined) return Effect.void
    this.slots = undefined
    return Effect.zipRight(
      Effect.async<void>((resume) => slots.kernel.close(() => resume(Effect.void))),
      slots.release
    )
  }

  info(): ReceiveRingInfo | undefined {
    const slots = this.slots
    return slots === undefined
      ? undefined
      : { mechanism: slots.kernel.mechanism, slots: slots.count, slotSize: slots.slotBytes }
  }
}

/** Marks the peer's orderly close in `ended`. */
const endOfStream = Symbol("endOfStream")
const noChunks: ReadonlyArray<SlotRecord> = Object.freeze([])

/** A running `receiveEach`: whom to hand each chunk, and how to end the call. */
interface Each {
  readonly onChunk: (bytes: Uint8Array) => void
  readonly resume: (outcome: Effect.Effect<void, SocketError>) => void
}

/** One stream's chunks in arrival order, and how many slots it holds. */
export class StreamQueue implements StreamSink, BatchSource<ReceivedChunk> {
  /** Ready slots, oldest first (a circular queue): a stream never holds more than every slot. */
  private readonly order: Int32Array
  private head = 0
  private count = 0
  /** Slots lent to callers and not yet given back. */
  private lent = 0
  private receiver: StreamReceiver | undefined = undefined
  private paused = false
  private closed = false
  private ended: NetDriverError | typeof endOfStream | undefined = undefined
  private each: Each | undefined = undefined
  /** Slots whose chunks `receiveEach` handed out this burst: back to the kernel at its flush. */
  private readonly spent: Array<number> = []
  /** Chunks and their bytes since the last flush: the metrics get them once per batch. */
  private arrived = 0
  private arrivedBytes = 0
  private readonly waiters = new Waiters(() => this.count > 0 || this.closed || this.ended !== undefined)

  constructor(private readonly slots: Slots, private readonly maxHeld: number) {
    this.order = new Int32Array(slots.count)
  }

  attach(receiver: StreamReceiver): void {
    this.receiver = receiver
  }

  // --- StreamSink: the driver reports from its completion handling ------------------------------

  readonly deliver = (slot: number, length: number): void => {
    const record = this.slots.records[slot]!
    record.fillAt(slot * this.slots.slotBytes, length)
    this.slots.take()
    this.arrived++
    this.arrivedBytes += length
    if (this.each !== undefined && this.count === 0) {
      this.handOut(this.each, record)
      // Not recycled here: the driver is in the middle of its completions, and the view
      // stays the callback's until it returns.
      this.spent.push(slot)
      return
    }
    this.order[(this.head + this.count) % this.order.length] = slot
    this.count++
    if (!this.paused && this.count + this.lent >= this.maxHeld) {
      this.paused = true
      this.receiver!.pause()
    }
  }

  readonly end = (error: NetDriverError | undefined): void => {
    this.ended ??= error ?? endOfStream
    this.waiters.wakeAll()
    if (this.each !== undefined && this.count === 0) this.finishEach()
  }

  readonly flush = (): void => {
    const spent = this.spent
    if (spent.length > 0) {
      for (let i = 0; i < spent.length; i++) this.slots.recycle(spent[i]!)
      spent.length = 0
    }
    if (this.arrived > 0) {
      this.slots.metrics.receivedBatch(this.arrived, this.arrivedBytes)
      this.arrived = 0
      this.arrivedBytes = 0
    }
    if (this.count > 0) this.waiters.wakeAll()
  }

  // --- receiveEach: chunks handed out as they arrive --------------------------------------------

  /**
   * Hands every chunk to `onChunk` as it arrives, until the stream ends: the ready ones first,
   * in order. One call at a time; interrupting it stops the calls, and later chunks queue for
   * the next call of either kind.
   */
  readonly receiveEach = (onChunk: (bytes: Uint8Array) => void): Effect.Effect<void, SocketError> =>
    Effect.async<void, SocketError>((resume) => {
      if (this.closed) return resume(Effect.fail(aborted("the socket is closed")))
      if (this.each !== undefined) {
        return resume(Effect.fail(invalid("receiveEach", "Another receiveEach of this stream is running.")))
      }
      const each: Each = { onChunk, resume }
      this.each = each
      // What arrived before this call, in order; every slot goes back at once (no driver is
      // in the middle of anything here).
      while (this.count > 0 && this.each === each) {
        const slot = this.order[this.head]!
        this.head = (this.head + 1) % this.order.length
        this.count--
        this.handOut(each, this.slots.records[slot]!)
        this.slots.recycle(slot)
      }
      this.resumeIfRoom()
      if (this.each === each && this.ended !== undefined) this.finishEach()
      return Effect.sync(() => {
        if (this.each === each) this.each = undefined
      })
    })

  private handOut(each: Each, record: SlotRecord): void {
    try {
      each.onChunk(record.bytes)
    } catch (defect) {
      this.each = undefined
      each.resume(Effect.die(defect))
    }
  }

  /** The stream ended with nothing queued: the running receiveEach ends as the stream did. */
  private finishEach(): void {
    const each = this.each!
    this.each = undefined
    each.resume(this.ended === endOfStream ? Effect.void : Effect.fail(this.ended!))
  }

  // --- the caller's side ------------------------------------------------------------------------

  readonly awaitNews: Effect.Effect<void> = this.waiters.await

  /**
   * Up to `max` ready chunks in order (holding a token on the ring's registration until they
   * come back); none once the peer closed and all were taken; the error that ended the stream;
   * `undefined` when nothing is ready.
   */
  readonly takeNow = (max: number): ReadonlyArray<SlotRecord> | SocketError | undefined => {
    if (this.closed) return aborted("the socket is closed")
    if (this.count === 0) return this.ended === endOfStream ? noChunks : this.ended
    // Cannot be refused: the registration is released only after every holder left.
    const refused = this.slots.registration.unsafeAcquireToken()
    if (refused !== undefined) return refused
    const take = Math.min(max, this.count)
    const batch = new Array<SlotRecord>(take)
    for (let i = 0; i < take; i++) {
      batch[i] = this.slots.records[this.order[this.head]!]!
      this.head = (this.head + 1) % this.order.length
    }
    this.count -= take
    this.lent += take
    return batch
  }

  readonly giveBack = (batch: ReadonlyArray<ReceivedChunk>): void => {
    if (batch.length === 0) return
    for (let i = 0; i < batch.length; i++) this.slots.recycle((batch[i] as SlotRecord).slot)
    this.lent -= batch.length
    this.slots.registration.unsafeReleaseToken()
    this.resumeIfRoom()
  }

  private resumeIfRoom(): void {
    if (this.paused && !this.closed && this.count + this.lent < this.maxHeld) {
      this.paused = false
      this.receiver!.resume()
    }
  }

  /**
   * Stops receiving and gives the ready slots back; completes once the kernel has let go of
   * the stream's requests (lent chunks stay their callers' until their batches end). The
   * stream's socket closes after this, and only then does it leave the ring: a send of its
   * chunks still in the kernel holds tokens on the ring's memory until the socket's close
   * aborts it.
   */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    if (this.closed) return Effect.void
    this.closed = true
    this.waiters.wakeAll()
    const each = this.each
    this.each = undefined
    each?.resume(Effect.fail(aborted("the socket is closed")))
    const receiver = this.receiver!
    return Effect.async<void>((resume) =>
      receiver.close(() => {
        // Ready chunks no caller took: back to the kernel for the other streams.
        this.flush()
        for (; this.count > 0; this.count--) {
          this.slots.recycle(this.order[this.head]!)
          this.head = (this.head + 1) % this.order.length
        }
        resume(Effect.void)
      })
    )
  })
}
