/**
 * The report page, bench/results/README.md: the machine and plan of the run, how to read the
 * figures, then per network scenario its chart and its table, then the registration and pool
 * tables when latest.json is there.
 */
import type { IdleConnections } from "../net/idle-connections.js"
import { describePlacement } from "../net/placement.js"
import type { StoredNetResults } from "../net/results.js"
import type { RowFigures, ScenarioFigures } from "./figures.js"
import { formatMetric, formatRatio, ROLE_LABELS } from "./figures.js"
import { describeMachine } from "./machine.js"
import { markdownTable } from "./markdown.js"
import type { LatestResults } from "./micro-tables.js"
import { microSection } from "./micro-tables.js"

/** One scenario on the page: its figures and its chart's file (beside the page), or null when it has none. */
export interface PageScenario {
  readonly figures: ScenarioFigures
  readonly chart: string | null
}

const howToRead = (net: StoredNetResults): string =>
  [
    "## How to read it\n",
    `Every ratio compares servers measured in the same run. In a scenario all servers were up at once and ` +
    `their runs interleaved (A B C A B C …), so a slow spell of the machine fell on all of them alike. ` +
    (net.plan.placement?.pinned === true
      ? "The load generator had CPU 0 and the server CPU 1 (helper threads included), the same for every " +
        "server, so no ratio depended on whether the scheduler put the two on one core; "
      : `The load generator and the server shared the machine's ${net.machine?.cores ?? net.cores} cores ` +
        "wherever the scheduler put them, which moves a ratio from run to run; ") +
    `the machine may be shared with other work (see its load average), so absolute rates move from run to ` +
    `run: compare the ratios, not the rates, and compare runs only with runs on the same machine.\n`,
    `- **ratio**: the server's median rate over its runs ÷ the reference server's median in the same run ` +
    `(the reference is the server a user would otherwise run; it is 1.0, the dashed rule in the chart).`,
    `- **runs' range** (the whisker): the server's slowest and fastest run, each ÷ that same reference ` +
    `median; the reference's own range shows its run-to-run spread around 1.0. Where two ranges overlap, ` +
    `this run does not tell the two apart.`,
    `- **server CPU µs/msg**: the server process's user + system time, all threads, read from ` +
    `\`/proc/<pid>/stat\` (${net.clockTicks} ticks/s) over the load generator's measured window only, ÷ ` +
    `the messages in that window (a round trip for UDP, a request or call for rpc and cluster); the median ` +
    `over the runs. Its ratio to the reference's: below 1 is less CPU per message.`,
    `- **V8 heap B/msg**: bytes a JS server allocates on the V8 heap per message in steady state ` +
    `(Buffers' bytes not included), counted in one extra run, not in the timed ones.`,
    `- A row that was skipped or failed has no bar; its reason is in the table.\n`
  ].join("\n")

const status = (row: RowFigures): string =>
  row.status === "ok" ? row.reason === null ? "ok" : `ok; ${row.reason}` : `${row.status}: ${row.reason ?? "?"}`

const orDash = (value: number | null, format: (value: number) => string): string => value === null ? "–" : format(value)

const scenarioTable = (figures: ScenarioFigures): string => {
  const heap = figures.rows.some((row) => row.heapBytesPerMessage !== null)
  const ref = figures.reference
  return markdownTable(
    [
      "server",
      "role",
      `median ${figures.unit}`,
      `ratio to ${ref}`,
      "runs' range (ratio)",
      "server CPU µs/msg",
      `CPU ratio to ${ref}`,
      ...(heap ? ["V8 heap B/msg"] : []),
      "status"
    ],
    figures.rows.map((row) => [
      row.server,
      ROLE_LABELS[row.role] + (row.server === ref ? " (reference)" : ""),
      orDash(row.median, (median) => formatMetric(figures.metric, median)),
      orDash(row.ratio, formatRatio),
      row.runRange === null ? "–" : `${row.runRange[0].toFixed(2)}–${row.runRange[1].toFixed(2)}`,
      orDash(row.cpuUsPerMessage, (cpu) => cpu.toFixed(2)),
      orDash(row.cpuRatio, formatRatio),
      ...(heap ? [orDash(row.heapBytesPerMessage, (bytes) => Math.round(bytes).toLocaleString("en-US"))] : []),
      status(row)
    ]),
    heap ? [2, 3, 4, 5, 6, 7] : [2, 3, 4, 5, 6]
  )
}

/** Why a scenario has no chart: its reference was not measured, or nothing else was. */
const noChart = (figures: ScenarioFigures): string => {
  const reference = figures.rows.find((row) => row.server === figures.reference)
  return reference === undefined || reference.status !== "ok"
    ? `No chart: the reference, ${figures.reference}, was not measured (${reference?.reason ?? "no such row"}).\n`
    : "No chart: no server was measured.\n"
}

const scenarioSection = ({ chart, figures }: PageScenario): string =>
  [
    `### ${figures.title}\n`,
    chart === null ? noChart(figures) : `![${figures.title}: ratios to ${figures.reference}](./${chart})\n`,
    scenarioTable(figures)
  ].join("\n")

const idleSection = (idle: IdleConnections | string): string => {
  const title = "### Idle connections on RioSocketServer (io_uring)\n"
  if (typeof idle === "string") return `${title}\nNot measured: ${idle}\n`
  return `${title}\n${idle.connections.toLocaleString("en-US")} idle clients: VmPin ` +
    `${idle.pinnedKiBBefore} KiB while listening, ${idle.pinnedKiBConnected} KiB with every client connected ` +
    `(the server's options configure ${idle.configuredKiB} KiB); then ${idle.echoed} of ${idle.connections} ` +
    `echoed 64 bytes. Node's servers pin nothing, so there is no ratio.\n`
}

/** The whole page. */
export const reportPage = (
  net: StoredNetResults,
  scenarios: ReadonlyArray<PageScenario>,
  latest: LatestResults | null
): string =>
  [
    "# Benchmark report\n",
    "The last run of `pnpm bench` (or `pnpm bench:net`) kept in the repository: each network scenario " +
    "as a chart of ratios to the server a user would otherwise run, and a table. Written by " +
    `\`bench/report/run.ts\` from \`net.json\`${latest === null ? "" : " and `latest.json`"} beside this ` +
    "page; `pnpm bench:report` writes it again from them without measuring.\n",
    `**Machine:** ${describeMachine(net)}.\n`,
    `**Plan:** ${net.plan.rounds} runs × ${net.plan.seconds} s per server (each after a 0.5 s warm-up), ` +
    `interleaved across the servers of a scenario; load generator and servers on 127.0.0.1, ${
      describePlacement(net.plan.placement)
    }.\n`,
    howToRead(net),
    "## Network scenarios (`bench/results/net.json`)\n",
    ...scenarios.map(scenarioSection),
    ...(net.idleConnections === undefined ? [] : [idleSection(net.idleConnections)]),
    ...(latest === null ? [] : [microSection(latest)])
  ].join("\n")
