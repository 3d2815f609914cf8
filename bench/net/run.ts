/**
 * `pnpm bench:net`: servers measured by one load generator per scenario — the C program
 * bench/net/loadgen.c for the echo servers, an `@effect/rpc` client (bench/net/rpc-load.ts)
 * and a lighter wire-level one (bench/net/rpc-wire-load.ts) for the rpc servers, an Effect
 * Cluster client (bench/net/cluster-load.ts) for the cluster runners — all in this one run, so that every server of a scenario pays the same
 * client cost and the ratios compare like with like. Prints the tables and writes
 * bench/results/net.json, then the report drawn from it (bench/report/run.ts: a chart per
 * scenario and bench/results/README.md).
 *
 * Each figure is the median of ROUNDS runs; within a scenario all servers are up at once and
 * their runs are interleaved (A B C A B C ...), so a slow spell of the machine falls on all of
 * them alike. Load generators run on CPU 0 and servers on CPU 1 (bench/net/placement.ts;
 * `--no-pin` leaves them to the scheduler): compare the ratios, not the absolute rates.
 *
 * Beside the rate, every row gets the server's CPU per message: the server process's user +
 * system time (all its threads) from /proc/<pid>/stat, sampled while the load generator runs
 * and taken over its measured window only, divided by the messages in that window; with its
 * ratio to the scenario's reference (what a user would otherwise run). In the scenarios marked
 * `heap`, each Node server also runs once more with bench/net/heap-report.mjs counting what it
 * allocates on the V8 heap per message (not in the timed runs).
 *
 * This file is the entry point: it builds, measures the scenarios of bench/net/scenarios.ts in
 * turn and prints each (bench/net/build.ts, measure-scenario.ts, report.ts), then writes the
 * JSON (its shape: bench/net/results.ts) and the report.
 *
 * `pnpm bench` runs it after the registration benchmarks; alone: `node --import tsx
 * bench/net/run.ts [--quick] [--rounds N] [--no-pin] [--only udp,tcpPingPong]` (`pnpm bench:net`; `--only`
 * measures those scenarios and writes nothing). `net()` is exported for callers in code.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { readMachine } from "../report/machine.js"
import { writeReport } from "../report/run.js"
import { findRoot } from "../root.js"
import { build } from "./build.js"
import { clockTicks } from "./cpu.js"
import { measureIdle, printIdle } from "./idle-connections.js"
import { measure } from "./measure-scenario.js"
import { choosePlacement, describePlacement } from "./placement.js"
import { startBenchPostgres } from "./postgres.js"
import { print } from "./report.js"
import type { NetPlan, NetResults, NetScenario } from "./results.js"
import type { Scenario } from "./scenarios.js"
import { SCENARIOS } from "./scenarios.js"

/**
 * Builds, measures and prints every scenario, then writes bench/results/net.json. With `only`
 * (scenario keys), measures and prints just those and writes nothing: a partial run is no
 * snapshot.
 */
export const net = async (
  plan: NetPlan = { seconds: 3, rounds: 3 },
  only?: ReadonlyArray<string>
): Promise<NetResults | undefined> => {
  const root = findRoot()
  const began = Date.now()
  const machine = readMachine()
  console.log(
    `node ${process.version}, ${cpus().length} cores; ${plan.rounds} runs of 0.5 s warm-up + ${plan.seconds} s ` +
      `per server, 127.0.0.1, ${describePlacement(plan.placement)}\n`
  )
  const [compiled, ticks, postgres] = await Promise.all([build(root), clockTicks(root), startBenchPostgres()])
  // The cluster scenario's runners find the database by this variable; without one, its rows
  // read "skipped" with the reason.
  const built = new Map(compiled)
  if (typeof postgres === "string") built.set("bench/build/cluster-runner.mjs", postgres)
  else process.env.EFFECT_RIO_BENCH_PG = String(postgres.port)
  console.log(
    "server CPU µs/msg: the server process's user + system time (/proc/<pid>/stat, all threads, " +
      `${ticks} ticks/s) per message, over its load generator's measured seconds; V8 heap B/msg: what ` +
      "a JS server allocates on the V8 heap per message (Buffers' bytes not included), counted in one " +
      "extra run\n"
  )
  const measured: Partial<Record<Scenario["key"], NetScenario>> = {}
  for (const scenario of SCENARIOS) {
    if (only !== undefined && !only.includes(scenario.key)) continue
    measured[scenario.key] = await measure(root, scenario, plan, built, ticks)
    print(measured[scenario.key]!)
  }
  if (only !== undefined) {
    if (typeof postgres !== "string") await postgres.stop()
    return undefined
  }
  const idle = built.has("bench/build/socket-echo.mjs")
    ? `skipped: ${built.get("bench/build/socket-echo.mjs")}`
    : await measureIdle(root)
  printIdle(idle)
  if (typeof postgres !== "string") await postgres.stop()
  const results: NetResults = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    machine,
    clockTicks: ticks,
    plan,
    udp: measured.udp!,
    tcpPingPong: measured.tcpPingPong!,
    tcpBulk: measured.tcpBulk!,
    socketPingPong: measured.socketPingPong!,
    rpc: measured.rpc!,
    rpcServerBound: measured.rpcServerBound!,
    cluster: measured.cluster!,
    idleConnections: idle
  }
  mkdirSync(join(root, "bench/results"), { recursive: true })
  writeFileSync(join(root, "bench/results/net.json"), JSON.stringify(results, null, 2) + "\n")
  console.log(`wrote bench/results/net.json (${((Date.now() - began) / 1000).toFixed(0)} s)`)
  await writeReport(root)
  return results
}

// Run only when this file is the entry point, not when another module imports `net()`.
const self = fileURLToPath(import.meta.url)
if (/[\\/]net[\\/]run\.[cm]?[jt]s$/.test(self) && resolve(process.argv[1] ?? "") === self) {
  const quick = process.argv.includes("--quick")
  const at = process.argv.indexOf("--only")
  const only = at < 0 ? undefined : (process.argv[at + 1] ?? "").split(",")
  const unknown = only?.filter((key) => !SCENARIOS.some((scenario) => scenario.key === key)) ?? []
  const roundsAt = process.argv.indexOf("--rounds")
  const rounds = roundsAt < 0 ? 3 : Number(process.argv[roundsAt + 1])
  if (unknown.length > 0 || !(Number.isInteger(rounds) && rounds >= 1)) {
    console.error(
      `usage: run.ts [--quick] [--rounds N ≥ 1] [--no-pin] [--only ${
        SCENARIOS.map((scenario) => scenario.key).join(",")
      }]`
    )
    process.exit(2)
  }
  const placement = choosePlacement(!process.argv.includes("--no-pin"))
  net({ seconds: quick ? 1 : 3, rounds, placement }, only).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
