/**
 * The figures the report draws and tabulates, computed once so that the chart and the page
 * cannot disagree: every rate as a ratio to the scenario's reference row of the same run.
 */
import type { NetRow, NetScenario } from "../net/results.js"
import { pick } from "../net/results.js"
import type { Metric, Role } from "../net/scenarios.js"

/** How the legend and the tables name a role. */
export const ROLE_LABELS: Record<Role, string> = { ours: "ours", node: "Node", c: "C" }

/** One server of a scenario, as the report shows it. */
export interface RowFigures {
  readonly server: string
  readonly role: Role
  readonly status: NetRow["status"]
  /** Why the row is not "ok", or what its CPU or heap figure lacks (the row's note); else null. */
  readonly reason: string | null
  /** Median of the runs, in the scenario's unit; null unless the row is "ok". */
  readonly median: number | null
  /** `median` divided by the reference's median; null when either is missing. */
  readonly ratio: number | null
  /**
   * The slowest and the fastest run, each divided by the reference's median (not by the
   * reference's run of the same round: its runs are not paired with ours by time).
   */
  readonly runRange: readonly [low: number, high: number] | null
  readonly cpuUsPerMessage: number | null
  /** `cpuUsPerMessage` divided by the reference's; below 1 is less CPU per message. */
  readonly cpuRatio: number | null
  readonly heapBytesPerMessage: number | null
}

/** One scenario, as the report shows it. */
export interface ScenarioFigures {
  /** Its key in net.json, which also names its chart file. */
  readonly key: string
  readonly title: string
  readonly unit: string
  readonly metric: Metric
  readonly reference: string
  /** The reference row's median; null when it was skipped or failed (then there are no ratios). */
  readonly referenceMedian: number | null
  readonly rows: ReadonlyArray<RowFigures>
}

const divide = (value: number | null, base: number | null): number | null =>
  value === null || base === null || base === 0 ? null : value / base

const rowFigures = (
  metric: Metric,
  row: NetRow,
  referenceMedian: number | null,
  referenceCpu: number | null
): RowFigures => {
  const values = row.runs.map((run) => pick(metric, run))
  const ok = row.status === "ok" && row.median !== null
  const low = divide(values.length > 0 ? Math.min(...values) : null, referenceMedian)
  const high = divide(values.length > 0 ? Math.max(...values) : null, referenceMedian)
  return {
    server: row.server,
    role: row.role,
    status: row.status,
    reason: ok ? row.note : row.reason ?? "no reason recorded",
    median: ok ? row.median : null,
    ratio: ok ? divide(row.median, referenceMedian) : null,
    runRange: ok && low !== null && high !== null ? [low, high] : null,
    cpuUsPerMessage: ok ? row.cpuUsPerMessage : null,
    cpuRatio: ok ? divide(row.cpuUsPerMessage, referenceCpu) : null,
    heapBytesPerMessage: ok ? row.heap?.bytesPerMessage ?? null : null
  }
}

/** The figures of one measured scenario. */
export const scenarioFigures = (key: string, scenario: NetScenario): ScenarioFigures => {
  const reference = scenario.rows.find((row) => row.server === scenario.reference)
  const referenceMedian = reference?.status === "ok" ? reference.median : null
  const referenceCpu = reference?.status === "ok" ? reference.cpuUsPerMessage : null
  return {
    key,
    title: scenario.title,
    unit: scenario.unit,
    metric: scenario.metric,
    reference: scenario.reference,
    referenceMedian,
    rows: scenario.rows.map((row) => rowFigures(scenario.metric, row, referenceMedian, referenceCpu))
  }
}

/** A figure in the scenario's unit: GB/s to three decimals, rates as whole numbers with separators. */
export const formatMetric = (metric: Metric, value: number): string =>
  metric === "gbps" ? value.toFixed(3) : Math.round(value).toLocaleString("en-US")

/** A ratio as the chart labels and the tables print it. */
export const formatRatio = (ratio: number): string => `${ratio.toFixed(2)}×`
