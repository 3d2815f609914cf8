/**
 * The shape of bench/results/net.json: what one load generator run reports, and the rows and
 * scenarios built from those runs.
 */
import type { Machine } from "../report/machine.js"
import type { IdleConnections } from "./idle-connections.js"
import type { Placement } from "./placement.js"
import type { Metric, Role, ScenarioKey } from "./scenarios.js"

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

/** One server of a scenario: its runs and the figures drawn from them. */
export interface NetRow {
  readonly server: string
  readonly role: Role
  readonly command: string
  readonly status: "ok" | "skipped" | "failed"
  readonly reason: string | null
  /** Median of the scenario's metric over the runs; null unless status is "ok". */
  readonly median: number | null
  readonly runs: ReadonlyArray<LoadRun>
  /**
   * The server process's CPU time (user + system, all its threads, from /proc/<pid>/stat) per
   * message, in µs: median over the runs; null when it could not be read (see note).
   */
  readonly cpuUsPerMessage: number | null
  /** Per run, in the order of `runs`: CPU µs per message, null where the window was not read. */
  readonly cpuRuns: ReadonlyArray<number | null>
  /** Why the CPU or heap figure is missing (the pid is not the server, the heap run failed), else null. */
  readonly note: string | null
  /** V8 heap bytes allocated per message in steady state (JS servers of heap scenarios only). */
  readonly heap: HeapFigure | null
}

/** One counted run of bench/net/heap-report.mjs inside a server. */
export interface HeapFigure {
  /** Bytes allocated on the V8 heap per message (external memory, such as Buffers' bytes, not included). */
  readonly bytesPerMessage: number
  readonly allocatedBytes: number
  /** Messages in the counted window: the load generator's rate times the window's length. */
  readonly messages: number
  /** Garbage collections in the window and their time. */
  readonly gcs: number
  readonly gcMs: number
  readonly seconds: number
}

/** One scenario's table. */
export interface NetScenario {
  readonly title: string
  readonly protocol: "udp" | "tcp"
  /** The row that "CPU vs" divides by. */
  readonly reference: string
  readonly metric: Metric
  readonly unit: string
  readonly rows: ReadonlyArray<NetRow>
}
/** All of bench/results/net.json. */
export interface NetResults {
  readonly date: string
  readonly node: string
  readonly cores: number
  /** Absent in files written before it was recorded. */
  readonly machine?: Machine
  /** Clock ticks per second of /proc/<pid>/stat's utime and stime (`getconf CLK_TCK`). */
  readonly clockTicks: number
  readonly plan: NetPlan
  readonly udp: NetScenario
  readonly tcpPingPong: NetScenario
  readonly tcpBulk: NetScenario
  readonly socketPingPong: NetScenario
  readonly rpc: NetScenario
  readonly rpcServerBound: NetScenario
  readonly cluster: NetScenario
  /** What RioSocketServer pins with 10,000 idle connections, or why it was not measured. */
  readonly idleConnections: IdleConnections | string
}

/** net.json as a reader takes it: a file written before a scenario was added lacks that scenario. */
export type StoredNetResults =
  & Omit<NetResults, ScenarioKey | "idleConnections">
  & Partial<Pick<NetResults, ScenarioKey | "idleConnections">>

/** How long each server is measured. */
export interface NetPlan {
  /** Measured seconds per load generator run (after its 0.5 s warm-up). */
  readonly seconds: number
  readonly rounds: number
  /** Where the processes ran (absent in results older than the option). */
  readonly placement?: Placement
}

/** The scenario's figure of one run: its rate, or its GB/s for a bulk scenario. */
export const pick = (metric: Metric, run: LoadRun): number => metric === "gbps" ? run.gbps ?? 0 : run.rate
