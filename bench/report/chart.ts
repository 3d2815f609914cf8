/**
 * One scenario's chart: a Vega-Lite specification (a bar per measured server at its ratio to
 * the reference, a whisker over its runs, the reference's 1.0 as a dashed rule) rendered to SVG
 * by Vega in Node, with no browser or canvas.
 */
import * as vega from "vega"
import type { TopLevelSpec } from "vega-lite"
import { compile } from "vega-lite"
import type { Role } from "../net/scenarios.js"
import type { ScenarioFigures } from "./figures.js"
import { formatMetric, formatRatio, ROLE_LABELS } from "./figures.js"
import { textWidth } from "./text-width.js"

/** One colour per role, the same in every chart. */
const ROLE_COLOURS: Record<Role, string> = { ours: "#4c78a8", node: "#54a24b", c: "#e45756" }

const FONT = "Helvetica, Arial, sans-serif"

/** Vega's text measurer: exported at run time, though its typings leave it out. */
const textMetrics = (vega as unknown as { textMetrics: { width: typeof textWidth } }).textMetrics

/** One bar's data: what the marks encode. */
interface Bar {
  readonly server: string
  readonly role: string
  readonly ratio: number
  readonly low: number
  readonly high: number
  readonly label: string
}

const bars = (figures: ScenarioFigures): ReadonlyArray<Bar> =>
  figures.rows.flatMap((row) =>
    row.ratio === null || row.runRange === null ? [] : [{
      server: row.server,
      role: ROLE_LABELS[row.role],
      ratio: row.ratio,
      low: row.runRange[0],
      high: row.runRange[1],
      label: formatRatio(row.ratio) + (row.server === figures.reference ? " (reference)" : "")
    }]
  )

/**
 * The chart's specification, or null when there is nothing to draw (the reference or every
 * other row was not measured; the page says why).
 */
export const chartSpec = (figures: ScenarioFigures): TopLevelSpec | null => {
  const data = bars(figures)
  if (figures.referenceMedian === null || data.length === 0) return null
  // Room right of the longest whisker for its label.
  const xMax = Math.max(1, ...data.map((bar) => bar.high)) * 1.15
  const roles = (Object.keys(ROLE_LABELS) as Array<Role>).filter((role) =>
    figures.rows.some((row) => row.role === role && row.ratio !== null)
  )
  const y = { field: "server", type: "nominal", sort: null, title: null } as const
  // Every layer's x gets the same title, else Vega-Lite joins the layers' field names into it.
  const xTitle = `ratio to ${figures.reference} (1.0 = its median)`
  const label = { type: "text", align: "left", baseline: "middle", dx: 6, fontSize: 11 } as const
  const labelAt = { y, x: { field: "high", type: "quantitative", title: xTitle }, text: { field: "label" } } as const
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: figures.title,
      subtitle: [
        `bars: median ${figures.unit} ÷ ${figures.reference}'s median ` +
        `(${formatMetric(figures.metric, figures.referenceMedian)} ${figures.unit} = 1.0)`,
        "whiskers: each server's slowest and fastest run ÷ that same median"
      ],
      anchor: "start",
      offset: 12
    },
    width: 440,
    height: { step: 34 },
    background: "white",
    padding: 12,
    config: {
      font: FONT,
      axis: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: "normal" },
      axisY: { labelLimit: 0, labelPadding: 6, ticks: false, domain: false },
      title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: "#555" },
      legend: { labelFontSize: 11 },
      view: { stroke: null }
    },
    data: { values: data as Array<Bar> },
    layer: [
      // First, so that the bars and labels cover it.
      {
        data: { values: [{}] },
        mark: { type: "rule", strokeDash: [4, 3], color: "#555", strokeWidth: 1 },
        encoding: { x: { datum: 1 } }
      },
      {
        mark: { type: "bar", height: { band: 0.62 } },
        encoding: {
          y,
          x: {
            field: "ratio",
            type: "quantitative",
            title: xTitle,
            scale: { domain: [0, xMax], nice: false },
            axis: { format: ".1f", grid: true, gridColor: "#eee", tickCount: 8 }
          },
          color: {
            field: "role",
            type: "nominal",
            scale: { domain: roles.map((role) => ROLE_LABELS[role]), range: roles.map((role) => ROLE_COLOURS[role]) },
            legend: { title: null, orient: "bottom", direction: "horizontal", offset: 8 }
          }
        }
      },
      {
        mark: { type: "errorbar", ticks: { size: 10 }, thickness: 1.5, color: "#222" },
        encoding: { y, x: { field: "low", type: "quantitative", title: xTitle }, x2: { field: "high" } }
      },
      // A white outline under each label keeps it readable where it crosses the rule or a grid line.
      { mark: { ...label, stroke: "white", strokeWidth: 3, strokeJoin: "round" }, encoding: labelAt },
      { mark: { ...label, color: "#222" }, encoding: labelAt }
    ]
  }
}

/** Renders a specification to SVG text (Vega's "none" renderer: a scene graph, no drawing surface). */
export const renderSvg = async (spec: TopLevelSpec): Promise<string> => {
  // Vega sizes text (axis labels, titles, hence the chart's margins) by 0.8 em per character
  // when it has no canvas; far wider than these fonts, it would leave wide empty margins.
  textMetrics.width = textWidth
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
