/**
 * Datagrams through the batch API: windows of 64 datagrams of varied sizes sent with one
 * `sendMany`, taken with `receiveMany` from the receiver's ring, every byte checked. On the
 * double each window also meets a network fault (loss, duplication, reordering, delay): the
 * phase checks that what arrives is exactly what the faults allow, never corrupt. On a kernel
 * a window waits for all 64; what never comes is counted as dropped by the kernel.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Phase, PhaseResult } from "./phase.js"

const WINDOW = 64
const MAX_SIZE = 1024

/** Datagram `id`'s size: 8..MAX_SIZE, spread. */
const sizeOf = (id: number): number => 8 + ((id * 7919 + 13) % 104729) % (MAX_SIZE - 7)

const fill = (bytes: Uint8Array, id: number): void => {
  new DataView(bytes.buffer, bytes.byteOffset, 4).setUint32(0, id)
  for (let i = 4; i < bytes.length; i++) bytes[i] = (id * 31 + i * 7) & 0xff
}

/** The id of an intact datagram, or -1. */
const check = (bytes: Uint8Array): number => {
  if (bytes.length < 8) return -1
  const id = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)
  if (bytes.length !== sizeOf(id)) return -1
  for (let i = 4; i < bytes.length; i++) if (bytes[i] !== ((id * 31 + i * 7) & 0xff)) return -1
  return id
}

type Fault = "drop" | "duplicate" | "reorder" | "delay" | "none"
const FAULTS: ReadonlyArray<Fault> = ["drop", "duplicate", "reorder", "delay", "none"]

export const datagrams: Phase = {
  name: "datagrams through receiveMany/sendMany",
  target: 1_000_000,
  run: (target, deadline): Effect.Effect<PhaseResult, unknown, RegisteredIo.RegisteredIo> =>
    Effect.scoped(Effect.gen(function*() {
      const control = yield* Effect.serviceOption(RioTest.Control)
      const receiver = yield* RegisteredSocket.udp({ receiveRing: { slotSize: MAX_SIZE, slots: 256 } })
      const sender = yield* RegisteredSocket.udp()
      const out = yield* RegisteredIo.allocateBuffer(WINDOW * MAX_SIZE)
      const problems: Array<string> = []
      const seen = new Uint8Array(target + WINDOW)
      const injected = { drop: 0, duplicate: 0, reorder: 0, delay: 0, none: 0 }
      let sent = 0
      let delivered = 0
      let duplicates = 0
      let missing = 0
      const started = Date.now()
      while (sent < target && Date.now() < deadline && problems.length === 0) {
        const first = sent
        const batch: Array<RegisteredSocket.OutgoingDatagram> = []
        for (let i = 0; i < WINDOW; i++) {
          const id = first + i
          const size = sizeOf(id)
          fill(out.bytes.subarray(i * MAX_SIZE, i * MAX_SIZE + size), id)
          batch.push({ buf: out.unsafeSlice(i * MAX_SIZE, size) as RioBuf.RioBuf, to: receiver.address })
        }
        let expected = WINDOW
        if (Option.isSome(control)) {
          const fault = FAULTS[(first / WINDOW) % FAULTS.length]!
          // A reordering of one datagram would change nothing: hold at least two.
          const n = (fault === "reorder" ? 2 : 1) + (first / WINDOW) % 3
          injected[fault] += fault === "none" ? 0 : n
          if (fault === "drop") {
            yield* control.value.dropDatagrams(n)
            expected -= n
          } else if (fault === "duplicate") {
            yield* control.value.duplicateDatagrams(n)
            expected += n
          } else if (fault === "reorder") {
            yield* control.value.reorderDatagrams(n)
          } else if (fault === "delay") {
            yield* control.value.delayDatagrams(n, "2 millis")
          }
        }
        const accepted = yield* sender.sendMany(batch)
        if (accepted !== WINDOW) problems.push(`sendMany sent ${accepted} of ${WINDOW}`)
        sent += WINDOW
        let got = 0
        while (got < expected) {
          const arrived = yield* Effect.scoped(Effect.timeoutOption(
            Effect.map(receiver.receiveMany(WINDOW), (received) => {
              for (const datagram of received) {
                const id = check(datagram.bytes)
                if (id < first || id >= sent) problems.push(`datagram ${id} corrupt or from outside window ${first}`)
                else if (seen[id]++ > 0) duplicates++
                else delivered++
              }
              return received.length
            }),
            "500 millis"
          ))
          if (Option.isNone(arrived)) break
          got += arrived.value
        }
        missing += Math.max(0, expected - got)
      }
      if (Option.isSome(control)) {
        if (missing !== 0) problems.push(`${missing} datagrams the faults did not drop never arrived`)
        if (duplicates !== injected.duplicate) {
          problems.push(`${duplicates} duplicates for ${injected.duplicate} injected`)
        }
        if (delivered !== sent - injected.drop) {
          problems.push(`${delivered} delivered of ${sent} sent, ${injected.drop} dropped`)
        }
      }
      const notes = Option.isSome(control)
        ? [
          `faults: ${injected.drop} dropped, ${injected.duplicate} duplicated, ${injected.reorder} reordered, ` +
          `${injected.delay} delayed`
        ]
        : [`${missing} dropped by the kernel (counted, none delivered corrupt)`]
      return { done: sent, seconds: (Date.now() - started) / 1000, problems, notes }
    }))
}
