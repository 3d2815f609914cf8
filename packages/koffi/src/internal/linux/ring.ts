/**
 * The loop that runs operations on one io_uring from Node's event loop, without ever
 * blocking it:
 *
 * - The operation table (`../operations.ts`): an operation's user_data is its tag, so a late
 *   completion or cancel is never taken for a later operation. Each table entry has scratch
 *   memory for the structures the kernel reads or writes while the operation is outstanding.
 * - Operations started in one event-loop turn are written to the mapped submission queue and
 *   handed to the kernel in one `io_uring_enter` (at `setImmediate`).
 * - Completions are read from the mapped completion queue: right after each submission
 *   (operations that completed inline need no wake-up), and when `wake.ts` reports that some
 *   arrived. Nothing keeps the process alive while nothing is outstanding.
 * - Cancellation is ASYNC_CANCEL by user_data; the cancelled operation still posts its own
 *   completion, and only that ends it.
 * - A multishot operation posts many completions: while a completion carries IORING_CQE_F_MORE
 *   the operation keeps its table entry (and scratch); the one without it ends the operation.
 * - Work that should run once per batch of completions rather than once per completion (waking
 *   the fibers of a receive ring) is queued with `afterDrain` and runs when the batch is read.
 * - The loop maps the ring's queues and unmaps them when it is shut down.
 *
 * @internal
 */
import type { Pending } from "@effect-rio/core/Driver"
import koffi from "koffi"
import { nothingToCancel, OperationTable } from "../operations.js"
import type * as Libc from "./libc.js"
import { Errno } from "./libc.js"
import type { Submission } from "./queues.js"
import { IORING_CQE_F_MORE, Opcode, Queues } from "./queues.js"
import type { Ring } from "./uring.js"
import { IORING_SETUP_DEFER_TASKRUN } from "./uring.js"
import * as Wake from "./wake.js"

/** Scratch bytes of each table entry: room for a msghdr and 16 iovecs (a gathered send). */
export const SCRATCH_BYTES = 56 + 16 * 16
const CHUNK_ENTRIES = 256
/** Rounds of deferred completion work one wake-up runs before yielding to the event loop. */
const DEFERRED_ROUNDS = 64

/**
 * An operation the kernel holds. A caller may keep one record per table entry and reuse it
 * (`submitPlain`), so that an operation allocates nothing.
 */
export interface Operation {
  readonly userData: number
  readonly complete: (result: number, flags: number) => void
  cancelled: boolean
}

/** Scratch memory of `CHUNK_ENTRIES` entries, with the views that write it. */
interface Chunk {
  readonly view: DataView
  readonly bytes: Uint8Array
  readonly words: Uint32Array
  readonly address: number
}

/** Where an entry's scratch memory is: its chunk's views, the byte offset in them, its address. */
export interface Scratch {
  view(entry: number): DataView
  bytes(entry: number): Uint8Array
  words(entry: number): Uint32Array
  offset(entry: number): number
  address(entry: number): number
}

/** The operation table, with each entry's scratch memory. */
class ScratchTable extends OperationTable<Operation> implements Scratch {
  private readonly chunks: Array<Chunk> = []

  override take(): number {
    const entry = super.take()
    if (entry >= this.chunks.length * CHUNK_ENTRIES) {
      // A fresh ArrayBuffer's backing store never moves while it is referenced (it is, here).
      const buffer = new ArrayBuffer(CHUNK_ENTRIES * SCRATCH_BYTES)
      this.chunks.push({
        view: new DataView(buffer),
        bytes: new Uint8Array(buffer),
        words: new Uint32Array(buffer),
        address: Number(koffi.address(buffer))
      })
    }
    return entry
  }

  view(entry: number): DataView {
    return this.chunks[Math.floor(entry / CHUNK_ENTRIES)]!.view
  }

  bytes(entry: number): Uint8Array {
    return this.chunks[Math.floor(entry / CHUNK_ENTRIES)]!.bytes
  }

  words(entry: number): Uint32Array {
    return this.chunks[Math.floor(entry / CHUNK_ENTRIES)]!.words
  }

  offset(entry: number): number {
    return (entry % CHUNK_ENTRIES) * SCRATCH_BYTES
  }

  address(entry: number): number {
    return this.chunks[Math.floor(entry / CHUNK_ENTRIES)]!.address + this.offset(entry)
  }
}

/** Writes an operation's submission; `entry` names its scratch memory. */
export type Build = (entry: number, userData: number) => Submission

/**
 * Reports one of an operation's completions: the kernel's result and the CQE's flags. Without
 * IORING_CQE_F_MORE in `flags` this is the operation's last completion and the entry is free
 * again by then: read its scratch before calling anything that could start another
 * operation. With it (a multishot operation), the entry and its scratch stay the operation's.
 */
export type Complete = (result: number, entry: number, flags: number) => void

/** The ring's operations as `net.ts` uses them. */
export interface RingLoop {
  readonly scratch: Scratch
  /**
   * Submits the operation `build` writes (in this turn's batch); `complete` runs with each of
   * its completions (once, unless it is multishot).
   */
  readonly start: (build: Build, complete: Complete) => Pending
  /** A table entry for an operation that `submitPlain` or `submitRecord` will submit. */
  readonly take: () => number
  /** The user_data that the operation in `entry` must carry. */
  readonly userData: (entry: number) => number
  /**
   * Submits `operation` (whose `userData` is its entry's) in the plain form (opcode, fd,
   * addr, len, flags, and the registered buffer's index for READ_FIXED / WRITE_FIXED, else 0)
   * without allocating; it completes like one from `start`.
   */
  readonly submitPlain: (
    entry: number,
    operation: Operation,
    opcode: number,
    fd: number,
    addr: number,
    len: number,
    opFlags: number,
    bufIndex: number
  ) => void
  /**
   * Submits `operation` (whose `userData` is its entry's) as `submission`, which may be a
   * record the caller reuses for each of its operations: nothing is allocated.
   */
  readonly submitRecord: (entry: number, operation: Operation, submission: Submission) => void
  /** Asks the kernel to end `operation` early (once, and only while it is outstanding). */
  readonly cancel: (operation: Operation) => void
  /**
   * Runs `callback` once after the batch of completions being read now (or the next one),
   * before the loop yields to the event loop. Queue it at most once per batch.
   */
  readonly afterDrain: (callback: () => void) => void
  /** Stops reading completions and waking up, and unmaps the queues; the ring itself stays open. */
  readonly shutdown: () => void
}

/** Why the loop could not start: the step and its errno. */
export interface LoopFailure {
  readonly _tag: "LoopFailure"
  readonly stage: "mmap" | "eventfd"
  readonly errno: number
}

/**
 * An operation started after the loop was shut down (a socket that outlived its layer): it
 * ends with EBADF, later, as every operation does, and never reaches the unmapped queues.
 */
const endsClosed = (complete: () => void): Pending => {
  setImmediate(complete)
  return nothingToCancel
}

/** Maps the queues of `ring` and starts waking up for its completions. */
export const open = (libc: Libc.Libc, ring: Ring): RingLoop | LoopFailure => {
  const queues = Queues.map(libc, ring)
  if (typeof queues === "number") return { _tag: "LoopFailure", stage: "mmap", errno: queues }
  const table = new ScratchTable()
  const backlog: Array<Submission> = []
  let flushScheduled = false
  let closed = false
  // With DEFER_TASKRUN, completion work runs only when this thread enters with GETEVENTS.
  const deferred = (ring.flags & IORING_SETUP_DEFER_TASKRUN) !== 0

  const dispatch = (userData: number, result: number, flags: number): void => {
    const operation = table.get(userData)
    if (operation === undefined) return
    if ((flags & IORING_CQE_F_MORE) === 0) table.release(userData)
    operation.complete(result, flags)
  }

  // Callbacks to run once the current batch of completions has been read.
  const drained: Array<() => void> = []
  const afterDrain = (callback: () => void): void => {
    drained.push(callback)
  }
  const runDrained = (): void => {
    // A callback may queue another (for the same batch): it runs in this pass too.
    for (let i = 0; i < drained.length; i++) drained[i]!()
    drained.length = 0
  }

  const flush = (): void => {
    flushScheduled = false
    if (closed) return
    for (;;) {
      while (backlog.length > 0 && queues.push(backlog[0]!)) backlog.shift()
      if (queues.unsubmitted === 0) break
      const submitted = queues.submit(deferred)
      // The completion queue overflowed: consume, then retry.
      if (submitted === -Errno.EBUSY) {
        if (queues.drain(dispatch) === 0) break
        continue
      }
      if (submitted <= 0) break
      if (backlog.length === 0) break
    }
    queues.drain(dispatch)
    runDrained()
    settleWake()
  }

  const scheduleFlush = (): void => {
    if (flushScheduled) return
    flushScheduled = true
    setImmediate(flush)
  }

  /** A wake-up: run deferred completion work, read the completions, submit what they started. */
  const reap = (): void => {
    if (closed) return
    if (deferred) {
      // Each enter runs a bounded batch of the deferred work; run it all, reading as we go.
      let rounds = 0
      do {
        queues.submit(true)
        queues.drain(dispatch)
      } while (queues.hasDeferredWork && ++rounds < DEFERRED_ROUNDS)
      if (queues.hasDeferredWork) setImmediate(reap)
    }
    queues.drain(dispatch)
    runDrained()
    if (queues.unsubmitted > 0 || backlog.length > 0) scheduleFlush()
    settleWake()
  }

  const wake = deferred ? Wake.eventfd(libc, ring, reap) : Wake.thread(queues, reap)
  if (typeof wake === "number") {
    queues.unmap()
    return { _tag: "LoopFailure", stage: "eventfd", errno: wake }
  }

  const settleWake = (): void => {
    if (table.count > 0) wake.arm()
    else wake.idle()
  }

  const enqueue = (submission: Submission): void => {
    // The queues are unmapped once the loop is shut down: writing them would crash the process.
    if (closed) return
    if (backlog.length > 0 || !queues.push(submission)) backlog.push(submission)
    scheduleFlush()
  }

  const start = (build: Build, complete: Complete): Pending => {
    if (closed) return endsClosed(() => complete(-Errno.EBADF, -1, 0))
    const entry = table.take()
    const userData = table.userData(entry)
    const submission = build(entry, userData)
    const operation: Operation = {
      complete: (result, flags) => complete(result, entry, flags),
      userData,
      cancelled: false
    }
    table.set(entry, operation)
    enqueue(submission)
    return { cancel: () => cancel(operation) }
  }

  const cancel = (operation: Operation): void => {
    if (operation.cancelled || table.get(operation.userData) !== operation) return
    operation.cancelled = true
    enqueue({ opcode: Opcode.ASYNC_CANCEL, fd: -1, userData: 0, addr: operation.userData })
  }

  /** An operation submitted after the shutdown ends with EBADF, later, like any other. */
  const endClosed = (operation: Operation): void => {
    // The entry stays taken until the operation ends, so its record is not reused before.
    endsClosed(() => {
      table.release(operation.userData)
      operation.complete(-Errno.EBADF, 0)
    })
  }

  const submitRecord: RingLoop["submitRecord"] = (entry, operation, submission) => {
    if (closed) return endClosed(operation)
    table.set(entry, operation)
    enqueue(submission)
  }

  const submitPlain: RingLoop["submitPlain"] = (entry, operation, opcode, fd, addr, len, opFlags, bufIndex) => {
    if (closed) return endClosed(operation)
    table.set(entry, operation)
    const userData = operation.userData
    if (backlog.length > 0 || !queues.pushPlain(opcode, fd, addr, len, opFlags, userData, bufIndex)) {
      backlog.push({ opcode, fd, userData, addr, len, opFlags, bufIndex })
    }
    scheduleFlush()
  }

  const shutdown = (): void => {
    if (closed) return
    wake.close()
    closed = true
    queues.unmap()
  }

  return {
    scratch: table,
    start,
    take: () => table.take(),
    userData: (entry) => table.userData(entry),
    submitPlain,
    submitRecord,
    cancel,
    afterDrain,
    shutdown
  }
}
