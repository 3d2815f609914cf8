/**
 * A UDP socket's receive ring: one registration cut into equal slots, each either in the
 * kernel's hands (waiting for a datagram), ready (holding one that no caller has taken yet) or
 * lent to a caller (until the scope or bracket of the batch that returned it ends, then back
 * to the kernel). Datagrams are kept in arrival order; one that did not fit its slot, or a
 * failure of the receive itself, keeps its place in that order as an error.
 *
 * Nothing here is allocated per datagram: slots, their slices and their records are made
 * once, and the order of ready slots lives in a typed array. Waiting fibers are woken once per
 * batch of completions, not once per datagram.
 */
import * as Effect from "effect/Effect"
import type { NetDriverError, ReceiveRing as KernelRing, RingSink } from "../Driver.js"
import type { ReceivedDatagram, SocketAddress, SocketError } from "../RegisteredSocket.js"
import { senders } from "./address.js"
import type { BatchSource } from "./batches.js"
import { Waiters } from "./batches.js"
import type { SocketMetrics } from "./observability.js"
import type { RegistrationImpl } from "./registration.js"
import { SliceImpl } from "./registration.js"
import { aborted } from "./requests.js"
import { SlotRecord } from "./slotRecord.js"

/** One slot's datagram, re-pointed each time the slot is filled: the caller's while lent. */
class SlotDatagram extends SlotRecord implements ReceivedDatagram {
  address: SocketAddress = unknownAddress

  fill(offset: number, length: number, address: SocketAddress): void {
    this.fillAt(offset, length)
    this.address = address
  }
}

const unknownAddress: SocketAddress = Object.freeze({ host: "0.0.0.0", port: 0 })

/** An error in the ready order, with the slot it arrived in (or -1). */
interface Failure {
  readonly slot: number
  readonly error: NetDriverError
}

export class ReceiveRing implements RingSink, BatchSource<SlotDatagram> {
  /** Ready entries in arrival order (a circular queue): a slot, or -1 - (index in `failures`). */
  private readonly order: Int32Array
  private head = 0
  private count = 0
  private readonly failures: Array<Failure | undefined> = []
  private readonly records: Array<SlotDatagram>
  private readonly waiters = new Waiters(() => this.hasNews)
  private kernel: KernelRing | undefined = undefined
  private closed = false
  /** Set when the kernel side ended for good: what every call gets once the ready entries are gone. */
  private ended: NetDriverError | undefined = undefined
  /** Failures in the order that hold no slot: at most `slots`, so entries with a slot always fit. */
  private slotless = 0
  /** Slots out of the kernel's hands (ready, lent, or holding an error): all of them is an empty ring. */
  private held = 0
  /** Datagrams and their bytes since the last flush: the metrics get them once per batch. */
  private arrived = 0
  private arrivedBytes = 0

  constructor(
    readonly registration: RegistrationImpl,
    readonly slotBytes: number,
    readonly slots: number,
    private readonly metrics: SocketMetrics
  ) {
    // Every slot can be ready with a datagram or an error at once, and each failure of the
    // receive itself holds no slot: twice the slots bounds what can wait.
    this.order = new Int32Array(slots * 2)
    this.records = Array.from(
      { length: slots },
      (_, slot) => new SlotDatagram(slot, new SliceImpl(registration, slot * slotBytes, slotBytes))
    )
  }

  /** Starts receiving through `kernel` (the driver's ring, or the core's posted receives). */
  attach(kernel: KernelRing): void {
    this.kernel = kernel
  }

  /** How the kernel fills this ring, for example "multishot RECVMSG into provided buffers". */
  get mechanism(): string {
    return this.kernel?.mechanism ?? "none"
  }

  /** A whole slot as a slice, for posting one receive into it. */
  slotSlice(slot: number): SliceImpl {
    return new SliceImpl(this.registration, slot * this.slotBytes, this.slotBytes)
  }

  // --- RingSink: the driver reports from its completion handling ------------------------------

  readonly deliver = (slot: number, offset: number, length: number, address: SocketAddress): void => {
    this.records[slot]!.fill(slot * this.slotBytes + offset, length, address)
    // Replies to a sender skip address parsing (see `senders`).
    senders.add(address)
    this.arrived++
    this.arrivedBytes += length
    this.take()
    this.push(slot)
  }

  readonly fail = (slot: number, error: NetDriverError): void => {
    if (slot < 0) {
      // A storm of failures of the receive itself (a peer that went away, answered again and
      // again) keeps its first `slots`: the order's other half stays free for the slots.
      if (this.slotless === this.slots) return
      this.slotless++
    } else {
      this.take()
    }
    let index = this.failures.indexOf(undefined)
    if (index < 0) index = this.failures.push(undefined) - 1
    this.failures[index] = { slot, error }
    this.push(-1 - index)
  }

  readonly end = (error: NetDriverError): void => {
    this.ended ??= error
    this.waiters.wakeAll()
  }

  readonly flush = (): void => {
    if (this.arrived > 0) {
      this.metrics.receivedBatch(this.arrived, this.arrivedBytes)
      this.arrived = 0
      this.arrivedBytes = 0
    }
    if (this.count > 0 && this.waiters.some) this.waiters.wakeAll()
  }

  /** A slot left the kernel's hands. */
  private take(): void {
    if (++this.held === this.slots) this.metrics.ringEmpty()
  }

  /** A slot goes back to the kernel. */
  private recycle(slot: number): void {
    this.held--
    this.kernel!.recycle(slot)
  }

  private push(entry: number): void {
    this.order[(this.head + this.count) % this.order.length] = entry
    this.count++
  }

  private shift(): void {
    this.head = (this.head + 1) % this.order.length
    this.count--
  }

  // --- the caller's side ------------------------------------------------------------------------

  /** Whether a call would find something now: an entry, or the ring closed. */
  get hasNews(): boolean {
    return this.count > 0 || this.closed || this.ended !== undefined
  }

  /** Resumes once an entry is ready or the ring closes. */
  readonly awaitNews: Effect.Effect<void> = this.waiters.await

  /**
   * Takes up to `max` ready datagrams in arrival order, or the error at the front (whose slot
   * goes back to the kernel); `undefined` when nothing is ready. The datagrams are the
   * caller's until it gives them back, and hold a token on the ring's registration until then,
   * so that its memory outlives them.
   */
  readonly takeNow = (max: number): ReadonlyArray<SlotDatagram> | SocketError | undefined => {
    // Once closing, nothing more is lent: the ring's memory is about to be released.
    if (this.closed) return aborted("the socket is closed")
    if (this.count === 0) return this.ended
    const front = this.order[this.head]!
    if (front < 0) {
      const failure = this.failures[-1 - front]!
      this.failures[-1 - front] = undefined
      this.shift()
      if (failure.slot < 0) this.slotless--
      else this.recycle(failure.slot)
      return failure.error
    }
    // Cannot be refused: the registration is released only after the ring closed (above).
    const refused = this.registration.unsafeAcquireToken()
    if (refused !== undefined) return refused
    const batch: Array<SlotDatagram> = []
    while (this.count > 0 && batch.length < max) {
      const entry = this.order[this.head]!
      if (entry < 0) break
      batch.push(this.records[entry]!)
      this.shift()
    }
    return batch
  }

  /** Gives a batch's slots back to the kernel, and its token back to the registration. */
  readonly giveBack = (batch: ReadonlyArray<SlotDatagram>): void => {
    if (!this.closed) {
      for (let i = 0; i < batch.length; i++) this.recycle(batch[i]!.slot)
    }
    this.registration.unsafeReleaseToken()
  }

  /**
   * Stops receiving: waiting callers fail, and the effect completes once the kernel lets go
   * of every slot (lent slots stay their callers' until their batches end).
   */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    if (this.closed) return Effect.void
    this.closed = true
    this.waiters.wakeAll()
    const kernel = this.kernel
    if (kernel === undefined) return Effect.void
    return Effect.async<void>((resume) => kernel.close(() => resume(Effect.void)))
  })
}
