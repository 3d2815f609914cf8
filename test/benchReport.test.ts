/**
 * The benchmark report (bench/report): from a small net.json built here, one chart per scenario
 * that parses as SVG with a bar per measured server and its ratio printed, and a page whose
 * tables carry each server's ratio and CPU figures, a skipped row's reason and the machine.
 */
import { assert, describe, it } from "@effect/vitest"
import { DOMParser, onWarningStopParsing } from "@xmldom/xmldom"
import type { LoadRun, NetRow, NetScenario, StoredNetResults } from "../bench/net/results.js"
import { buildReport } from "../bench/report/run.js"

const run = (rate: number, gbps?: number): LoadRun => ({
  rate,
  errors: 0,
  seconds: 3,
  ...(gbps === undefined ? {} : { gbps })
})

const ok = (server: string, role: NetRow["role"], median: number, runs: ReadonlyArray<LoadRun>, cpu: number) => ({
  server,
  role,
  command: "node server.mjs",
  status: "ok" as const,
  reason: null,
  median,
  runs,
  cpuUsPerMessage: cpu,
  cpuRuns: runs.map(() => cpu),
  note: null,
  heap: null
})

const withHeap = (row: NetRow, bytesPerMessage: number): NetRow => ({
  ...row,
  heap: { bytesPerMessage, allocatedBytes: 0, messages: 0, gcs: 0, gcMs: 0, seconds: 1 }
})

const skipped = (server: string, role: NetRow["role"], reason: string): NetRow => ({
  server,
  role,
  command: "",
  status: "skipped",
  reason,
  median: null,
  runs: [],
  cpuUsPerMessage: null,
  cpuRuns: [],
  note: null,
  heap: null
})

const udp: NetScenario = {
  title: "UDP echo, 64-byte datagrams, 64 in flight",
  protocol: "udp",
  reference: "node:dgram",
  metric: "rate",
  unit: "round trips/s",
  rows: [
    withHeap(ok("ours, batches", "ours", 150_000, [run(140_000), run(150_000), run(160_000)], 5), 1_600),
    withHeap(ok("node:dgram", "node", 50_000, [run(49_000), run(50_000), run(52_000)], 20), 1_000),
    skipped("C io_uring (liburing)", "c", "bench/net/build/uring_udp_echo is missing (no liburing-dev)")
  ]
}

const tcpBulk: NetScenario = {
  title: "TCP echo, 4 connections ping-pong 64 KiB blocks",
  protocol: "tcp",
  reference: "node:net",
  metric: "gbps",
  unit: "GB/s echoed",
  rows: [
    ok("ours, one operation per call", "ours", 2.5, [run(1, 2.4), run(1, 2.5), run(1, 2.6)], 24),
    ok("node:net", "node", 2, [run(1, 1.9), run(1, 2), run(1, 2.1)], 30)
  ]
}

const net: StoredNetResults = {
  date: "2026-01-02T03:04:05.678Z",
  node: "v20.0.0",
  cores: 2,
  machine: {
    cpuModel: "Test CPU 9000",
    cores: 2,
    memoryBytes: 4 * 2 ** 30,
    kernel: "Linux 6.1.0-test",
    arch: "x64",
    virtual: true,
    loadAverage: 0.5
  },
  clockTicks: 100,
  plan: { seconds: 3, rounds: 3 },
  udp,
  tcpBulk
}

const parseSvg = (svg: string) => {
  const document = new DOMParser({ onError: onWarningStopParsing }).parseFromString(svg, "image/svg+xml")
  assert.strictEqual(document.documentElement?.namespaceURI, "http://www.w3.org/2000/svg")
  const elements = (tag: string) => Array.from(document.getElementsByTagName(tag))
  return {
    bars: elements("path").filter((path) => path.getAttribute("aria-roledescription") === "bar"),
    texts: elements("text").map((text) => text.textContent ?? "")
  }
}

/** The page's table line of one server (its first cell), split into cells. */
const row = (page: string, server: string): ReadonlyArray<string> => {
  const line = page.split("\n").find((line) => line.startsWith(`| ${server} |`))
  assert.isDefined(line, `no row for ${server}`)
  return line!.split(" | ").map((cell) => cell.replace(/^\| | \|$/g, ""))
}

describe("bench report", () => {
  it("draws one chart per scenario, a bar per measured server labelled with its ratio", async () => {
    const report = await buildReport(net, null)
    assert.deepStrictEqual([...report.charts.keys()], ["udp.svg", "tcpBulk.svg"])
    assert.deepStrictEqual(report.withoutChart, [])

    const udpChart = parseSvg(report.charts.get("udp.svg")!)
    assert.strictEqual(udpChart.bars.length, 2, "the skipped C server has no bar")
    assert.include(udpChart.texts, "3.00×")
    assert.include(udpChart.texts, "1.00× (reference)")
    assert.include(udpChart.texts, "UDP echo, 64-byte datagrams, 64 in flight")

    const bulkChart = parseSvg(report.charts.get("tcpBulk.svg")!)
    assert.strictEqual(bulkChart.bars.length, 2)
    assert.include(bulkChart.texts, "1.25×")
  })

  it("tabulates every server with its ratios, CPU and heap figures, and the skipped row's reason", async () => {
    const { page } = await buildReport(net, null)
    assert.include(page, "![UDP echo, 64-byte datagrams, 64 in flight: ratios to node:dgram](./udp.svg)")
    assert.include(page, "](./tcpBulk.svg)")
    // server, role, median, ratio, runs' range, CPU µs/msg, CPU ratio, heap B/msg, status
    assert.deepStrictEqual(row(page, "ours, batches"), [
      "ours, batches",
      "ours",
      "150,000",
      "3.00×",
      "2.80–3.20",
      "5.00",
      "0.25×",
      "1,600",
      "ok"
    ])
    assert.deepStrictEqual(row(page, "node:dgram").slice(1, 7), [
      "Node (reference)",
      "50,000",
      "1.00×",
      "0.98–1.04",
      "20.00",
      "1.00×"
    ])
    assert.deepStrictEqual(row(page, "C io_uring (liburing)").slice(2, 8), ["–", "–", "–", "–", "–", "–"])
    assert.strictEqual(
      row(page, "C io_uring (liburing)")[8],
      "skipped: bench/net/build/uring_udp_echo is missing (no liburing-dev)"
    )
    // A bulk scenario's median is in GB/s, and it has no heap column.
    assert.deepStrictEqual(row(page, "ours, one operation per call"), [
      "ours, one operation per call",
      "ours",
      "2.500",
      "1.25×",
      "1.20–1.30",
      "24.00",
      "0.80×",
      "ok"
    ])
  })

  it("describes the machine and the plan the figures came from", async () => {
    const { page } = await buildReport(net, null)
    assert.include(
      page,
      "**Machine:** Test CPU 9000 (virtual machine), 2 cores, 4.0 GiB memory, Linux 6.1.0-test x64, " +
        "Node v20.0.0, 2026-01-02 03:04:05 UTC, load average 0.50 at the start."
    )
    assert.include(page, "**Plan:** 3 runs × 3 s per server")
    assert.include(page, "127.0.0.1, placed by the scheduler.")
    const { machine: _, ...old } = net
    assert.include((await buildReport(old, null)).page, "(CPU, memory and kernel not recorded by this run)")
    const pinned = (await buildReport({ ...net, plan: { ...net.plan, placement: { pinned: true } } }, null)).page
    assert.include(pinned, "load generators pinned to CPU 0 and servers to CPU 1 (taskset).")
    assert.include(pinned, "The load generator had CPU 0 and the server CPU 1")
    const unpinned = { ...net, plan: { ...net.plan, placement: { pinned: false, reason: "--no-pin" } } }
    assert.include((await buildReport(unpinned, null)).page, "placed by the scheduler (not pinned: --no-pin).")
  })

  it("draws no chart when the reference was not measured, and says why", async () => {
    const reference = udp.rows[1]!
    const unmeasured: NetScenario = {
      ...udp,
      rows: [udp.rows[0]!, skipped(reference.server, reference.role, "the port was taken")]
    }
    const report = await buildReport({ ...net, udp: unmeasured }, null)
    assert.deepStrictEqual([...report.charts.keys()], ["tcpBulk.svg"])
    assert.deepStrictEqual(report.withoutChart, ["udp.svg"])
    assert.include(report.page, "No chart: the reference, node:dgram, was not measured (the port was taken).")
    assert.notInclude(report.page, "(./udp.svg)")
  })
})
