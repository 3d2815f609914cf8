/**
 * Prints one measured scenario as a table: each server's median and spread, its ratio to every
 * Node and C row of the same run, its CPU per message and that against the scenario's
 * reference, and its V8 heap per message where it was counted.
 */
import { table } from "../measure.js"
import { formatMetric as format } from "../report/figures.js"
import { pick } from "./results.js"
import type { LoadRun, NetScenario } from "./results.js"

/** Prints the scenario's title line, its table, and a note per row whose CPU or heap figure is missing. */
export const print = (scenario: NetScenario): void => {
  // Ratios are against the Node and C rows of this very run, whichever of them exist.
  const bases = scenario.rows.filter((row) => row.role !== "ours")
  const reference = scenario.rows.find((row) => row.server === scenario.reference)
  const udp = scenario.protocol === "udp"
  const heap = scenario.rows.some((row) => row.heap !== null)
  const sum = (runs: ReadonlyArray<LoadRun>, pick: (run: LoadRun) => number) =>
    String(runs.reduce((total, run) => total + pick(run), 0))
  const notes: Array<string> = []
  console.log(`${scenario.title} (${scenario.unit}, median of runs)`)
  table(
    [
      "server",
      scenario.unit,
      "runs (min–max)",
      udp ? "errors/lost" : "errors",
      ...bases.map((base) => `vs ${base.server}`),
      "server CPU µs/msg",
      `CPU vs ${scenario.reference}`,
      ...(heap ? ["V8 heap B/msg"] : [])
    ],
    scenario.rows.map((row) => {
      if (row.median === null) {
        return [
          row.server,
          `${row.status}: ${row.reason ?? "?"}`,
          "-",
          "-",
          ...bases.map(() => "-"),
          "-",
          "-",
          ...(heap ? ["-"] : [])
        ]
      }
      if (row.note !== null) notes.push(`${row.server}: ${row.note}`)
      const values = row.runs.map((run) => pick(scenario.metric, run))
      const cpu = row.cpuUsPerMessage
      const referenceCpu = reference?.cpuUsPerMessage ?? null
      return [
        row.server,
        format(scenario.metric, row.median),
        `${format(scenario.metric, Math.min(...values))}–${format(scenario.metric, Math.max(...values))}`,
        sum(row.runs, (run) => run.errors) + (udp ? `/${sum(row.runs, (run) => run.lost ?? 0)}` : ""),
        ...bases.map((base) => base.median === null ? "-" : (row.median! / base.median).toFixed(2)),
        cpu === null ? "-" : cpu.toFixed(2),
        cpu === null || referenceCpu === null ? "-" : (cpu / referenceCpu).toFixed(2),
        ...(heap ? [row.heap === null ? "-" : Math.round(row.heap.bytesPerMessage).toLocaleString("en-US")] : [])
      ]
    })
  )
  notes.forEach((note) => console.log(`  note: ${note}`))
  if (notes.length > 0) console.log()
}
