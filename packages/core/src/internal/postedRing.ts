/**
 * A receive ring for drivers without one of their own: one receive posted per free slot (as
 * Winsock RIO does it: RIO has no provided buffers), re-posted when the slot comes back. Each
 * completion reports to the ring; the ring's waiters are woken once per burst of completions
 * (a microtask after the driver's completion handling), not once per datagram.
 */
import type { Done, NetDriver, NetSocket, Pending, ReceiveRing, RingSink } from "../Driver.js"
import type { Datagram } from "../RegisteredSocket.js"
import type { SliceImpl } from "./registration.js"

export const postedRing = (
  net: NetDriver,
  socket: NetSocket,
  slices: ReadonlyArray<SliceImpl>,
  sink: RingSink
): ReceiveRing => {
  const pending: Array<Pending | undefined> = new Array(slices.length).fill(undefined)
  let outstanding = 0
  let flushScheduled = false
  let onClosed: (() => void) | undefined = undefined
  let closing = false

  const flush = () => {
    flushScheduled = false
    sink.flush()
  }

  const post = (slot: number) => {
    outstanding++
    pending[slot] = net.receiveFrom(socket, slices[slot]!, completions[slot]!)
  }

  // One callback per slot, made once: a completion allocates nothing of ours.
  const completions: Array<Done<Datagram>> = slices.map((_, slot) => (result) => {
    outstanding--
    pending[slot] = undefined
    if (closing) {
      if (outstanding === 0) onClosed?.()
      return
    }
    if (!(result instanceof Error)) {
      sink.deliver(slot, 0, result.length, result.address)
    } else if (result._tag === "WSAEMSGSIZE") {
      // The slot comes back when the caller takes the error.
      sink.fail(slot, result)
    } else if (result._tag === "WSAECONNRESET" || result._tag === "WSAECONNREFUSED") {
      // A refused earlier send, reported on a later receive: in order, and the slot goes
      // straight back to receiving.
      sink.fail(-1, result)
      post(slot)
    } else {
      // Anything else (the socket or the layer is gone) would only repeat: the ring ends.
      sink.end(result)
    }
    if (!flushScheduled) {
      flushScheduled = true
      queueMicrotask(flush)
    }
  })

  for (let slot = 0; slot < slices.length; slot++) post(slot)

  return {
    mechanism: "one receive posted per free slot",
    recycle: (slot) => {
      if (!closing) post(slot)
    },
    close: (done) => {
      closing = true
      if (outstanding === 0) return done()
      onClosed = done
      for (const request of pending) request?.cancel()
    }
  }
}
