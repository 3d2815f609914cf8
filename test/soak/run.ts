/**
 * `pnpm soak`: long runs that a test suite cannot afford, on the double (with its network
 * faults) and on io_uring — lease cycles, datagrams through the batch API, TCP
 * connect/echo/close cycles and the random-interruption property — each checked for what it
 * leaves behind (registrations, pinned pages, file descriptors, operations in flight) and the
 * whole run for resident memory. Prints a report; exits 1 if anything failed.
 *
 * `pnpm soak` runs every phase to its full count (about 1 M lease cycles, 1 M datagrams,
 * 10,000 connections, 10,000 property runs per backend). `pnpm soak --seconds 60` shares 60 s
 * among the phases and runs each as far as its share allows (what `.ci/run` does).
 */
import type { RegisteredIo, RioError } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { connections } from "./connections.js"
import { datagrams } from "./datagrams.js"
import { interruption } from "./interruption.js"
import { leases } from "./leases.js"
import type { Phase, PhaseResult } from "./phase.js"
import { differences, residentMiB, settled, snapshot } from "./state.js"

/** How far resident memory may end above where it began, after a full collection. */
const RESIDENT_BOUND_MIB = 128

const PHASES: ReadonlyArray<Phase> = [leases, datagrams, connections, interruption]

const BACKENDS: ReadonlyArray<{
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable>
}> = [
  { name: "RioTest double (network faults on)", layer: RioTest.layer() },
  { name: "io_uring (KoffiRio.layerLinux)", layer: KoffiRio.layerLinux() }
]

interface Row {
  readonly backend: string
  readonly phase: string
  readonly target: number
  readonly result: PhaseResult | string
  readonly left: ReadonlyArray<string>
}

const budget = (): number | undefined => {
  const at = process.argv.indexOf("--seconds")
  if (at < 0) return undefined
  const seconds = Number(process.argv[at + 1])
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error("--seconds wants a positive number of seconds")
  return seconds
}

/** Every phase on one backend, each with its share of the time, checked for what it left. */
const onBackend = (name: string, share: number | undefined) =>
  Effect.forEach(PHASES, (phase) =>
    Effect.gen(function*() {
      const before = yield* snapshot
      const deadline = share === undefined ? Number.POSITIVE_INFINITY : Date.now() + share * 1000
      const result = yield* Effect.either(phase.run(phase.target, deadline))
      const left = differences(before, yield* settled(before))
      return {
        backend: name,
        phase: phase.name,
        target: phase.target,
        result: result._tag === "Right"
          ? result.right
          : `failed: ${(result.left as Error).message ?? String(result.left)}`,
        left
      } satisfies Row
    }))

const passed = (row: Row): boolean =>
  typeof row.result !== "string" && row.result.problems.length === 0 && row.left.length === 0

const print = (rows: ReadonlyArray<Row>): void => {
  for (const row of rows) {
    const result = row.result
    if (typeof result === "string") {
      console.log(`✗ ${row.backend} — ${row.phase}: ${result}`)
      continue
    }
    const rate = result.seconds > 0 ? Math.round(result.done / result.seconds).toLocaleString("en-US") : "-"
    console.log(
      `${passed(row) ? "✓" : "✗"} ${row.backend} — ${row.phase}: ${result.done.toLocaleString("en-US")} of ` +
        `${row.target.toLocaleString("en-US")} in ${result.seconds.toFixed(1)} s (${rate}/s)` +
        (result.notes.length > 0 ? `; ${result.notes.join("; ")}` : "")
    )
    for (const problem of result.problems.slice(0, 5)) console.log(`    problem: ${problem}`)
    if (row.left.length > 0) console.log(`    left behind: ${row.left.join(", ")}`)
  }
}

const main = async (): Promise<number> => {
  const seconds = budget()
  const share = seconds === undefined ? undefined : seconds / (PHASES.length * BACKENDS.length)
  const began = residentMiB()
  let peak = began
  const rows: Array<Row> = []
  for (const backend of BACKENDS) {
    const run = onBackend(backend.name, share).pipe(Effect.provide(backend.layer), Effect.either)
    const result = await Effect.runPromise(run)
    if (result._tag === "Left") {
      rows.push({
        backend: backend.name,
        phase: "all",
        target: 0,
        result: `unavailable: ${result.left.message}`,
        left: []
      })
    } else {
      rows.push(...result.right)
    }
    peak = Math.max(peak, residentMiB())
  }
  const ended = residentMiB()
  print(rows)
  const grew = ended - began
  const memoryOk = grew <= RESIDENT_BOUND_MIB
  console.log(
    `${memoryOk ? "✓" : "✗"} resident memory: ${began.toFixed(0)} MiB at the start, ${peak.toFixed(0)} MiB at ` +
      `most between backends, ${ended.toFixed(0)} MiB at the end (bound: +${RESIDENT_BOUND_MIB} MiB)`
  )
  const ok = memoryOk && rows.every(passed)
  console.log(ok ? "soak passed" : "soak FAILED")
  return ok ? 0 : 1
}

main().then((code) => process.exit(code), (error) => {
  console.error(error)
  process.exit(1)
})
