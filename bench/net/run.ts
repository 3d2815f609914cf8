/**
 * `pnpm bench:net`: servers measured by one load generator per scenario — the C program
 * bench/net/loadgen.c for the echo servers, an `@effect/rpc` client (bench/net/rpc-load.ts)
 * for the rpc servers — all in this one run, so that every server of a scenario pays the same
 * client cost and the ratios compare like with like. Prints the tables and writes
 * bench/results/net.json.
 *
 * Each figure is the median of ROUNDS runs; within a scenario all servers are up at once and
 * their runs are interleaved (A B C A B C ...), so a slow spell of the machine falls on all of
 * them alike. Load generator and server share the machine (on a 2-core box, one core each at
 * best): compare the ratios, not the absolute rates.
 *
 * `net()` is exported for bench/index.ts; run alone with `node --import tsx bench/net/run.ts
 * [--quick]`.
 */
import type { ChildProcess } from "node:child_process"
import { execFile, spawn } from "node:child_process"
import dgram from "node:dgram"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { cpus } from "node:os"
import { basename, dirname, join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { table } from "../measure.js"

// ---- What is measured: edit these tables to add or change servers ----------------------

type Role = "ours" | "node" | "c"

interface ServerSpec {
  readonly name: string
  readonly role: Role
  /** Path (from the repo root) that must exist, else the row reads "skipped". */
  readonly requires: string
  /** argv, run from the repo root; `node` means this very Node binary. */
  readonly command: (port: number) => ReadonlyArray<string>
}

const UDP_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours (RegisteredSocket)",
    role: "ours",
    requires: "bench/build/udp-echo.mjs",
    command: (port) => ["node", "bench/build/udp-echo.mjs", "server", "--port", String(port)]
  },
  {
    name: "node:dgram",
    role: "node",
    requires: "bench/net/dgram-echo.mjs",
    command: (port) => ["node", "bench/net/dgram-echo.mjs", String(port)]
  },
  {
    name: "C io_uring (liburing)",
    role: "c",
    requires: "bench/net/build/uring_udp_echo",
    command: (port) => ["bench/net/build/uring_udp_echo", String(port)]
  }
]

/** The raw node:net echo: the TCP reference, and context for the Socket echo. */
const NODE_NET: ServerSpec = {
  name: "node:net",
  role: "node",
  requires: "bench/net/net-echo.mjs",
  command: (port) => ["node", "bench/net/net-echo.mjs", String(port)]
}

const TCP_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours (RegisteredSocket)",
    role: "ours",
    requires: "bench/build/tcp-echo.mjs",
    command: (port) => ["node", "bench/build/tcp-echo.mjs", "server", "--port", String(port)]
  },
  NODE_NET
]

/** The same handler on `@effect/platform`'s SocketServer: ours (registered I/O) and Node's. */
const SOCKET_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours (RioSocketServer)",
    role: "ours",
    requires: "bench/build/socket-echo.mjs",
    command: (port) => ["node", "bench/build/socket-echo.mjs", "rio", String(port)]
  },
  {
    name: "NodeSocketServer",
    role: "node",
    requires: "bench/build/socket-echo.mjs",
    command: (port) => ["node", "bench/build/socket-echo.mjs", "node", String(port)]
  },
  NODE_NET
]

/** The rpc example's server (examples/src/rpcApi.ts) on RioSocketServer and on NodeSocketServer. */
const RPC_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours (RioSocketServer)",
    role: "ours",
    requires: "bench/build/rpc-server.mjs",
    command: (port) => ["node", "bench/build/rpc-server.mjs", "server", "--port", String(port)]
  },
  {
    name: "NodeSocketServer",
    role: "node",
    requires: "bench/build/rpc-server-node.mjs",
    command: (port) => ["node", "bench/build/rpc-server-node.mjs", String(port)]
  }
]

type Metric = "rate" | "gbps"

/** A load generator: run once per measured run, it prints one JSON line (a `LoadRun`). */
interface LoadClient {
  /** Path (from the repo root) that must exist, else every row of the scenario reads "skipped". */
  readonly requires: string
  /** argv, run from the repo root; `node` means this very Node binary. */
  readonly command: (port: number, seconds: number) => ReadonlyArray<string>
}

/** The C load generator: `loadgen <protocol> <port> <load…> <seconds>`. */
const loadgen = (protocol: "udp" | "tcp", ...load: ReadonlyArray<string>): LoadClient => ({
  requires: "bench/net/build/loadgen",
  command: (port, seconds) => ["bench/net/build/loadgen", protocol, String(port), ...load, String(seconds)]
})

/** One NodeSocket `@effect/rpc` client with `concurrency` calls in flight. */
const rpcLoad = (concurrency: number): LoadClient => ({
  requires: "bench/build/rpc-load.mjs",
  command: (port, seconds) => ["node", "bench/build/rpc-load.mjs", String(port), String(concurrency), String(seconds)]
})

type ScenarioKey = "udp" | "tcpPingPong" | "tcpBulk" | "socketPingPong" | "rpc"

interface Scenario {
  readonly key: ScenarioKey
  readonly title: string
  readonly protocol: "udp" | "tcp"
  readonly servers: ReadonlyArray<ServerSpec>
  readonly client: LoadClient
  readonly metric: Metric
  readonly unit: string
}

const SCENARIOS: ReadonlyArray<Scenario> = [
  {
    key: "udp",
    title: "UDP echo, 64-byte datagrams, 64 in flight",
    protocol: "udp",
    servers: UDP_SERVERS,
    client: loadgen("udp", "64"),
    metric: "rate",
    unit: "round trips/s"
  },
  {
    key: "tcpPingPong",
    title: "TCP echo, 16 connections ping-pong 64-byte messages",
    protocol: "tcp",
    servers: TCP_SERVERS,
    client: loadgen("tcp", "16", "64"),
    metric: "rate",
    unit: "msgs/s"
  },
  {
    key: "tcpBulk",
    title: "TCP echo, 4 connections ping-pong 64 KiB blocks",
    protocol: "tcp",
    servers: TCP_SERVERS,
    client: loadgen("tcp", "4", "65536"),
    metric: "gbps",
    unit: "GB/s echoed"
  },
  {
    key: "socketPingPong",
    title: "@effect/platform Socket echo, 16 connections ping-pong 64-byte messages",
    protocol: "tcp",
    servers: SOCKET_SERVERS,
    client: loadgen("tcp", "16", "64"),
    metric: "rate",
    unit: "msgs/s"
  },
  {
    key: "rpc",
    title: "@effect/rpc unary calls (MessagePack), one NodeSocket client, 32 in flight",
    protocol: "tcp",
    servers: RPC_SERVERS,
    client: rpcLoad(32),
    metric: "rate",
    unit: "requests/s"
  }
]

// ---- Results -----------------------------------------------------------------------------

/** One load generator run, as it printed it (udp runs have roundTrips, tcp runs messages, rpc runs requests). */
export interface LoadRun {
  readonly rate: number
  readonly gbps?: number
  readonly errors: number
  readonly lost?: number
  readonly seconds: number
  readonly roundTrips?: number
  readonly messages?: number
  readonly requests?: number
  readonly bytes?: number
}

export interface NetRow {
  readonly server: string
  readonly role: Role
  readonly command: string
  readonly status: "ok" | "skipped" | "failed"
  readonly reason: string | null
  /** Median of the scenario's metric over the runs; null unless status is "ok". */
  readonly median: number | null
  readonly runs: ReadonlyArray<LoadRun>
}

export interface NetScenario {
  readonly title: string
  readonly protocol: "udp" | "tcp"
  readonly metric: Metric
  readonly unit: string
  readonly rows: ReadonlyArray<NetRow>
}

export interface NetResults {
  readonly date: string
  readonly node: string
  readonly cores: number
  readonly plan: NetPlan
  readonly udp: NetScenario
  readonly tcpPingPong: NetScenario
  readonly tcpBulk: NetScenario
  readonly socketPingPong: NetScenario
  readonly rpc: NetScenario
}

export interface NetPlan {
  /** Measured seconds per load generator run (after its 0.5 s warm-up). */
  readonly seconds: number
  readonly rounds: number
}

// ---- Plumbing ----------------------------------------------------------------------------

/** The repo root, whether this file runs from bench/net (tsx) or bundled into bench/build. */
const findRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, "bench", "net", "loadgen.c"))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error("bench/net: cannot find the repo root from " + import.meta.url)
    dir = parent
  }
  return dir
}

const pick = (metric: Metric, run: LoadRun): number => metric === "gbps" ? run.gbps ?? 0 : run.rate

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const run = (file: string, args: ReadonlyArray<string>, cwd: string, timeoutMs: number) =>
  new Promise<{ ok: boolean; stdout: string; stderr: string }>((done) => {
    execFile(
      file,
      [...args],
      { cwd, timeout: timeoutMs },
      (error, stdout, stderr) => done({ ok: error === null, stdout, stderr: stderr || (error?.message ?? "") })
    )
  })

const firstLine = (text: string): string => text.trim().split("\n")[0] ?? ""

/** Why a built file cannot be used (its build failed), by its path from the repo root. */
type Built = ReadonlyMap<string, string>

/** Builds the C programs and bundles the JS servers and clients; returns why each unusable one is. */
const build = async (root: string): Promise<Built> => {
  mkdirSync(join(root, "bench/net/build"), { recursive: true })
  const gcc = (out: string, src: string, libs: ReadonlyArray<string>) =>
    run("gcc", ["-O2", "-Wall", "-o", `bench/net/build/${out}`, `bench/net/${src}`, ...libs], root, 60_000).then((
      result
    ) => [`bench/net/build/${out}`, result.ok ? null : `gcc ${src} failed: ${firstLine(result.stderr)}`] as const)
  // Our servers run as compiled JS, as a user ships them: bundled like bench/index.ts, so
  // that no TypeScript loader sits in the measured process. So do the JS baselines and clients
  // written in TypeScript, so that both sides of a ratio are built the same way.
  const bundle = (source: string) => {
    const out = `bench/build/${basename(source, ".ts")}.mjs`
    return run(
      join(root, "node_modules/.bin/esbuild"),
      [
        source,
        "--bundle",
        "--platform=node",
        "--format=esm",
        `--outfile=${out}`,
        "--external:koffi",
        // CommonJS dependencies (ws, under NodeSocketServer) require Node's built-ins: give the
        // ES module bundle a `require` to do it with.
        "--banner:js=import { createRequire as bannerRequire } from \"node:module\"; " +
        "const require = bannerRequire(import.meta.url);",
        "--log-level=warning"
      ],
      root,
      60_000
    ).then((result) => [out, result.ok ? null : `esbuild ${source} failed: ${firstLine(result.stderr)}`] as const)
  }
  const results = await Promise.all([
    gcc("loadgen", "loadgen.c", []),
    gcc("uring_udp_echo", "uring_udp_echo.c", ["-luring"]),
    bundle("examples/src/udp-echo.ts"),
    bundle("examples/src/tcp-echo.ts"),
    bundle("examples/src/rpc-server.ts"),
    bundle("bench/net/socket-echo.ts"),
    bundle("bench/net/rpc-server-node.ts"),
    bundle("bench/net/rpc-load.ts")
  ])
  return new Map(results.flatMap(([path, reason]) => reason === null ? [] : [[path, reason] as const]))
}

/** A port nobody holds right now (the kernel picks it; the server binds it right after). */
const freePort = (protocol: "udp" | "tcp") =>
  new Promise<number>((done, fail) => {
    if (protocol === "udp") {
      const socket = dgram.createSocket("udp4")
      socket.on("error", fail)
      socket.bind(0, "127.0.0.1", () => {
        const { port } = socket.address()
        socket.close(() => done(port))
      })
    } else {
      const server = Net.createServer()
      server.on("error", fail)
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        server.close(() => done(port))
      })
    }
  })

interface Live {
  readonly child: ChildProcess
  readonly port: number
  /** The last lines the server wrote to stderr, for the reason of a failure. */
  readonly stderr: () => string
}

const running = new Set<ChildProcess>()
// Never leave a server behind, even when the bench throws.
process.on("exit", () => running.forEach((child) => child.kill("SIGKILL")))

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/** Spawns a server and waits for its "listening <port>" line (or gives the reason it failed). */
const start = (root: string, spec: ServerSpec, port: number) =>
  new Promise<Live | string>((done) => {
    const [file, ...args] = spec.command(port)
    const child = spawn(file === "node" ? process.execPath : join(root, file!), args, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    running.add(child)
    let stderr = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000)
    })
    const tail = () => stderr.trim().split("\n").slice(-2).join(" / ")
    let settled = false
    const settle = (value: Live | string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (typeof value === "string") void stop(child)
      done(value)
    }
    // tsx compiles on first start; give it time, but not forever.
    const timer = setTimeout(() => settle("no \"listening\" line within 30 s"), 30_000)
    // Keep draining stdout after the line, so a chatty server cannot block on a full pipe.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const match = /^listening (\d+)/.exec(line.trim())
      if (match !== null) settle({ child, port: Number(match[1]), stderr: tail })
    })
    child.on("error", (error) => settle(`spawn failed: ${error.message}`))
    child.on("exit", (code, signal) => {
      running.delete(child)
      settle(`exited (${signal ?? code}) before listening: ${tail()}`)
    })
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (exited(child)) return done()
    const force = setTimeout(() => child.kill("SIGKILL"), 2_000)
    child.once("exit", () => {
      clearTimeout(force)
      done()
    })
    child.kill("SIGTERM")
  })

// ---- Measuring ---------------------------------------------------------------------------

const measure = async (
  root: string,
  scenario: Scenario,
  plan: NetPlan,
  built: Built
): Promise<NetScenario> => {
  interface Slot {
    spec: ServerSpec
    live: Live | null
    reason: string | null
    failed: boolean
    runs: Array<LoadRun>
  }
  const slots: Array<Slot> = []
  // Start every server of the scenario first, so that their runs can be interleaved.
  for (const spec of scenario.servers) {
    const slot: Slot = { spec, live: null, reason: null, failed: false, runs: [] }
    slots.push(slot)
    const unusable = [scenario.client.requires, spec.requires].map((path) =>
      built.get(path) ?? (existsSync(join(root, path)) ? undefined : `${path} not found`)
    ).find((reason) => reason !== undefined)
    if (unusable !== undefined) slot.reason = unusable
    else {
      const started = await start(root, spec, await freePort(scenario.protocol))
      if (typeof started === "string") {
        slot.reason = started
        slot.failed = true
      } else slot.live = started
    }
  }
  for (let round = 0; round < plan.rounds; round++) {
    for (const slot of slots) {
      if (slot.live === null || slot.failed) continue
      if (exited(slot.live.child)) {
        slot.failed = true
        slot.reason = `server exited: ${slot.live.stderr()}`
        continue
      }
      const [file, ...args] = scenario.client.command(slot.live.port, plan.seconds)
      const client = file === "node" ? process.execPath : join(root, file!)
      const result = await run(client, args, root, (plan.seconds + 15) * 1000)
      try {
        if (!result.ok) throw new Error(firstLine(result.stderr))
        slot.runs.push(JSON.parse(result.stdout) as LoadRun)
      } catch (error) {
        slot.failed = true
        slot.reason = `load generator failed: ${error instanceof Error ? error.message : String(error)}`
      }
    }
  }
  await Promise.all(slots.map((slot) => slot.live === null ? undefined : stop(slot.live.child)))
  const rows = slots.map((slot): NetRow => {
    const [file, ...args] = slot.spec.command(0)
    const ok = slot.live !== null && !slot.failed && slot.runs.length > 0
    return {
      server: slot.spec.name,
      role: slot.spec.role,
      command: [file, ...args.map((arg) => arg === "0" ? "<port>" : arg)].join(" "),
      // "skipped": nothing to run (file missing, build failed); "failed": it ran and broke.
      status: ok ? "ok" : slot.failed ? "failed" : "skipped",
      reason: slot.reason,
      median: ok ? median(slot.runs.map((run) => pick(scenario.metric, run))) : null,
      runs: slot.runs
    }
  })
  return { title: scenario.title, protocol: scenario.protocol, metric: scenario.metric, unit: scenario.unit, rows }
}

// ---- Reporting ---------------------------------------------------------------------------

const format = (metric: Metric, value: number): string =>
  metric === "gbps" ? value.toFixed(3) : Math.round(value).toLocaleString("en-US")

const print = (scenario: NetScenario): void => {
  // Ratios are against the Node and C rows of this very run, whichever of them exist.
  const bases = scenario.rows.filter((row) => row.role !== "ours")
  const udp = scenario.protocol === "udp"
  const sum = (runs: ReadonlyArray<LoadRun>, pick: (run: LoadRun) => number) =>
    String(runs.reduce((total, run) => total + pick(run), 0))
  console.log(`${scenario.title} (${scenario.unit}, median of runs)`)
  table(
    [
      "server",
      scenario.unit,
      "runs (min–max)",
      "errors",
      ...(udp ? ["lost"] : []),
      ...bases.map((base) => `vs ${base.server}`)
    ],
    scenario.rows.map((row) => {
      if (row.median === null) {
        return [
          row.server,
          `${row.status}: ${row.reason ?? "?"}`,
          "-",
          "-",
          ...(udp ? ["-"] : []),
          ...bases.map(() => "-")
        ]
      }
      const values = row.runs.map((run) => pick(scenario.metric, run))
      return [
        row.server,
        format(scenario.metric, row.median),
        `${format(scenario.metric, Math.min(...values))}–${format(scenario.metric, Math.max(...values))}`,
        sum(row.runs, (run) => run.errors),
        ...(udp ? [sum(row.runs, (run) => run.lost ?? 0)] : []),
        ...bases.map((base) => base.median === null ? "-" : (row.median! / base.median).toFixed(2))
      ]
    })
  )
}

// ---- Entry points ------------------------------------------------------------------------

export const net = async (plan: NetPlan = { seconds: 3, rounds: 3 }): Promise<NetResults> => {
  const root = findRoot()
  const began = Date.now()
  console.log(
    `node ${process.version}, ${cpus().length} cores; ${plan.rounds} runs of 0.5 s warm-up + ${plan.seconds} s ` +
      "per server, 127.0.0.1, load generator and server share the cores\n"
  )
  const built = await build(root)
  const measured: Partial<Record<Scenario["key"], NetScenario>> = {}
  for (const scenario of SCENARIOS) {
    measured[scenario.key] = await measure(root, scenario, plan, built)
    print(measured[scenario.key]!)
  }
  const results: NetResults = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    plan,
    udp: measured.udp!,
    tcpPingPong: measured.tcpPingPong!,
    tcpBulk: measured.tcpBulk!,
    socketPingPong: measured.socketPingPong!,
    rpc: measured.rpc!
  }
  mkdirSync(join(root, "bench/results"), { recursive: true })
  writeFileSync(join(root, "bench/results/net.json"), JSON.stringify(results, null, 2) + "\n")
  console.log(`wrote bench/results/net.json (${((Date.now() - began) / 1000).toFixed(0)} s)`)
  return results
}

// Run alone only when this file is the entry point (not when bundled into bench/index.ts).
const self = fileURLToPath(import.meta.url)
if (/[\\/]net[\\/]run\.[cm]?[jt]s$/.test(self) && resolve(process.argv[1] ?? "") === self) {
  const quick = process.argv.includes("--quick")
  net(quick ? { seconds: 1, rounds: 3 } : undefined).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
