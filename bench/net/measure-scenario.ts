/**
 * Measures one scenario: starts all its servers at once, runs the load generator against each
 * in turn, round after round (A B C A B C ...), so that a slow spell of the machine falls on all
 * of them alike; samples each server's CPU during every run; then, in the scenarios marked
 * `heap`, gives each Node server one more run that counts its V8 heap allocation. Returns the
 * scenario's rows.
 */
import { existsSync } from "node:fs"
import { join } from "node:path"
import type { Built } from "./build.js"
import type { Sample } from "./cpu.js"
import { cpuPerMessage, notTheServer, procStat, SAMPLE_MS, treeStat } from "./cpu.js"
import { placed } from "./placement.js"
import type { Live } from "./processes.js"
import { exited, firstLine, freePort, run, start, stop } from "./processes.js"
import type { HeapFigure, LoadRun, NetPlan, NetRow, NetScenario } from "./results.js"
import { pick } from "./results.js"
import type { Scenario, ServerSpec } from "./scenarios.js"

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Measures `scenario` over `plan.rounds` interleaved rounds; its servers are stopped when it returns. */
export const measure = async (
  root: string,
  scenario: Scenario,
  plan: NetPlan,
  built: Built,
  ticksPerSecond: number
): Promise<NetScenario> => {
  interface Slot {
    spec: ServerSpec
    live: Live | null
    reason: string | null
    failed: boolean
    runs: Array<LoadRun>
    cpuRuns: Array<number | null>
    note: string | null
    heap: HeapFigure | null
  }
  const slots: Array<Slot> = []
  // Start every server of the scenario first, so that their runs can be interleaved.
  for (const spec of scenario.servers) {
    const slot: Slot = {
      spec,
      live: null,
      reason: null,
      failed: false,
      runs: [],
      cpuRuns: [],
      note: null,
      heap: null
    }
    slots.push(slot)
    const unusable = [scenario.client.requires, spec.requires].map((path) =>
      built.get(path) ?? (existsSync(join(root, path)) ? undefined : `${path} not found`)
    ).find((reason) => reason !== undefined)
    if (unusable !== undefined) slot.reason = unusable
    else {
      const heap = scenario.heap && spec.workers === undefined
      const started = await start(root, spec, await freePort(scenario.protocol), heap, plan.placement)
      if (typeof started === "string") {
        slot.reason = started
        slot.failed = true
      } else {
        slot.live = started
        slot.note = notTheServer(started, spec)
      }
    }
  }

  /**
   * One load generator run against the slot's server, its CPU sampled throughout; `signals`
   * (seconds after the spawn) are when to send the server SIGUSR2.
   */
  const load = async (slot: Slot, live: Live, seconds: number, signals: ReadonlyArray<number> = []) => {
    const [file, ...args] = scenario.client.command(live.port, seconds)
    const client = file === "node" ? process.execPath : join(root, file!)
    const pid = live.child.pid!
    const samples: Array<Sample> = []
    const sample = () => {
      const stat = slot.note !== null ? null : slot.spec.workers === undefined ? procStat(pid) : treeStat(pid)
      if (stat !== null) samples.push({ ms: performance.now(), ticks: stat.ticks })
    }
    const sent: Array<number> = []
    const timers = signals.map((at) =>
      setTimeout(() => {
        sent.push(performance.now())
        live.child.kill("SIGUSR2")
      }, at * 1000)
    )
    const sampler = setInterval(sample, SAMPLE_MS)
    sample()
    const [program, programArgs] = placed(plan.placement, "client", client, args)
    const result = await run(program, programArgs, root, (seconds + 15) * 1000)
    const exitMs = performance.now()
    clearInterval(sampler)
    timers.forEach(clearTimeout)
    sample()
    if (!result.ok) throw new Error(firstLine(result.stderr))
    const figures = JSON.parse(result.stdout) as LoadRun
    return { figures, cpu: cpuPerMessage(samples, exitMs, figures, ticksPerSecond), sent }
  }

  for (let round = 0; round < plan.rounds; round++) {
    for (const slot of slots) {
      if (slot.live === null || slot.failed) continue
      if (exited(slot.live.child)) {
        slot.failed = true
        slot.reason = `server exited: ${slot.live.stderr()}`
        continue
      }
      try {
        const { cpu, figures } = await load(slot, slot.live, plan.seconds)
        slot.runs.push(figures)
        slot.cpuRuns.push(cpu)
      } catch (error) {
        slot.failed = true
        slot.reason = `load generator failed: ${error instanceof Error ? error.message : String(error)}`
      }
    }
  }

  // Allocation, in one more run per JS server, so that the profiler never runs in a timed one:
  // the first SIGUSR2 once the load generator measures, the second before it stops.
  const heapSeconds = Math.max(plan.seconds, 1)
  for (const slot of slots) {
    const live = slot.live
    if (!scenario.heap || live === null || slot.failed || !live.heapReport || exited(live.child)) continue
    const from = scenario.client.measuringAfter
    const to = 0.5 + heapSeconds - 0.05
    if (to - from < 0.2) continue
    try {
      const report = live.nextLine("heap ", (to + 15) * 1000)
      const { figures, sent } = await load(slot, live, heapSeconds, [from, to])
      const line = await report
      if (line === null || sent.length !== 2) throw new Error("no heap report from the server")
      const counted = JSON.parse(line.slice("heap ".length)) as Omit<HeapFigure, "bytesPerMessage" | "messages">
      const messages = figures.rate * (sent[1]! - sent[0]!) / 1000
      slot.heap = { ...counted, messages: Math.round(messages), bytesPerMessage: counted.allocatedBytes / messages }
    } catch (error) {
      slot.note ??= `heap run failed: ${error instanceof Error ? error.message : String(error)}`
    }
  }

  await Promise.all(slots.map((slot) => slot.live === null ? undefined : stop(slot.live.child)))
  const rows = slots.map((slot): NetRow => {
    const [file, ...args] = slot.spec.command(0)
    const ok = slot.live !== null && !slot.failed && slot.runs.length > 0
    const cpu = slot.cpuRuns.filter((value): value is number => value !== null)
    return {
      server: slot.spec.name,
      role: slot.spec.role,
      command: [file, ...args.map((arg) => arg === "0" ? "<port>" : arg)].join(" "),
      // "skipped": nothing to run (file missing, build failed); "failed": it ran and broke.
      status: ok ? "ok" : slot.failed ? "failed" : "skipped",
      reason: slot.reason,
      median: ok ? median(slot.runs.map((run) => pick(scenario.metric, run))) : null,
      runs: slot.runs,
      cpuUsPerMessage: ok && cpu.length > 0 ? median(cpu) : null,
      cpuRuns: slot.cpuRuns,
      note: slot.note,
      heap: slot.heap
    }
  })
  return {
    title: scenario.title,
    protocol: scenario.protocol,
    reference: scenario.reference,
    metric: scenario.metric,
    unit: scenario.unit,
    rows
  }
}
