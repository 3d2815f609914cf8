/**
 * `pnpm bench:report`: writes the benchmark report beside the results it is drawn from — a chart
 * per network scenario (bench/results/<scenario>.svg) and the page bench/results/README.md —
 * from bench/results/net.json and, when present, latest.json. `pnpm bench` and `pnpm bench:net`
 * call `writeReport` after measuring; alone it redraws the last run without measuring again.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { StoredNetResults } from "../net/results.js"
import { SCENARIOS } from "../net/scenarios.js"
import { chartSpec, renderSvg } from "./chart.js"
import { scenarioFigures } from "./figures.js"
import type { LatestResults } from "./micro-tables.js"
import type { PageScenario } from "./page.js"
import { reportPage } from "./page.js"

/** What the report consists of: the page's Markdown and each chart's SVG by file name. */
export interface Report {
  readonly page: string
  readonly charts: ReadonlyMap<string, string>
  /** Chart files of scenarios that have no chart this time (their reference was not measured). */
  readonly withoutChart: ReadonlyArray<string>
}

/** Builds the report in memory: scenarios in the order they run, those missing from `net` left out. */
export const buildReport = async (net: StoredNetResults, latest: LatestResults | null): Promise<Report> => {
  const charts = new Map<string, string>()
  const withoutChart: Array<string> = []
  const scenarios: Array<PageScenario> = []
  for (const { key } of SCENARIOS) {
    const scenario = net[key]
    if (scenario === undefined) continue
    const figures = scenarioFigures(key, scenario)
    const spec = chartSpec(figures)
    const file = `${key}.svg`
    if (spec === null) withoutChart.push(file)
    else charts.set(file, await renderSvg(spec))
    scenarios.push({ figures, chart: spec === null ? null : file })
  }
  return { page: reportPage(net, scenarios, latest), charts, withoutChart }
}

const readJson = <A>(path: string): A | null => existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) as A : null

/** Reads bench/results/*.json under `root` and writes the charts and the page beside them. */
export const writeReport = async (root: string): Promise<Report> => {
  const results = join(root, "bench", "results")
  const net = readJson<StoredNetResults>(join(results, "net.json"))
  if (net === null) throw new Error("bench/report: no bench/results/net.json; run `pnpm bench:net` first")
  const report = await buildReport(net, readJson<LatestResults>(join(results, "latest.json")))
  mkdirSync(results, { recursive: true })
  for (const [file, svg] of report.charts) writeFileSync(join(results, file), svg + "\n")
  // A chart left from an earlier run would sit beside a page that no longer shows it.
  for (const file of report.withoutChart) rmSync(join(results, file), { force: true })
  writeFileSync(join(results, "README.md"), report.page)
  console.log(`wrote bench/results/README.md and ${report.charts.size} charts`)
  return report
}

// Run only when this file is the entry point, not when bench/net/run.ts imports `writeReport`.
const self = fileURLToPath(import.meta.url)
if (/[\\/]report[\\/]run\.[cm]?[jt]s$/.test(self) && resolve(process.argv[1] ?? "") === self) {
  writeReport(fileURLToPath(new URL("../..", import.meta.url))).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
