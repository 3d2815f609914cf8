/**
 * A server's CPU time per message, read from /proc/<pid>/stat: checking that the pid is the
 * server itself, sampling its ticks while a load generator runs, and dividing the ticks of the
 * load generator's measured window by the messages in it.
 */
import { readdirSync, readFileSync } from "node:fs"
import { basename } from "node:path"
import type { Live } from "./processes.js"
import { run } from "./processes.js"
import type { LoadRun } from "./results.js"
import type { ServerSpec } from "./scenarios.js"

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`; 100 on Linux unless told otherwise). */
export const clockTicks = async (root: string): Promise<number> => {
  const result = await run("getconf", ["CLK_TCK"], root, 5_000)
  const ticks = Number(result.stdout.trim())
  return result.ok && Number.isInteger(ticks) && ticks > 0 ? ticks : 100
}

/** A process's `comm` and its user + system time in clock ticks, all threads; null once it is gone. */
export const procStat = (pid: number): { readonly comm: string; readonly ticks: number } | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
    const close = stat.lastIndexOf(")")
    const fields = stat.slice(close + 2).split(" ")
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return { comm: stat.slice(stat.indexOf("(") + 1, close), ticks: Number(fields[11]) + Number(fields[12]) }
  } catch {
    return null
  }
}

/**
 * `procStat` of a process and every process under it (a primary and its workers): their
 * ticks summed, the process's own `comm`; null once it is gone.
 */
export const treeStat = (pid: number): { readonly comm: string; readonly ticks: number } | null => {
  const own = procStat(pid)
  if (own === null) return null
  let ticks = own.ticks
  for (const child of childrenOf(pid)) ticks += treeStat(child)?.ticks ?? 0
  return { comm: own.comm, ticks }
}

/** The pids a process started (its threads' children, from /proc/<pid>/task/<tid>/children). */
const childrenOf = (pid: number): ReadonlyArray<number> => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(" ").filter(Boolean).map(Number)
    )
  } catch {
    return []
  }
}

/** Why the CPU of `live` cannot be read as the server's, or null when it can. */
export const notTheServer = (live: Live, spec: ServerSpec): string | null => {
  if (process.platform !== "linux") return "no /proc here"
  const pid = live.child.pid
  const stat = pid === undefined ? null : procStat(pid)
  if (stat === null) return "no /proc/<pid>/stat for the server"
  const [file] = spec.command(0)
  // The kernel keeps the first 15 bytes of the executable's name.
  const expected = basename(file === "node" ? process.execPath : file!).slice(0, 15)
  return stat.comm === expected ? null : `pid ${pid} is "${stat.comm}", not ${expected}: CPU not measured`
}

/** Every SAMPLE_MS, the server's CPU ticks, while a load generator runs. */
export const SAMPLE_MS = 20
/**
 * How far inside the load generator's measured window the CPU window stays at each end: its
 * window ends when it exits (less its shutdown, milliseconds) and began `seconds` before.
 */
const MARGIN_MS = 100

/** The server's CPU ticks at `ms` (performance.now()). */
export interface Sample {
  readonly ms: number
  readonly ticks: number
}

/**
 * The server's CPU µs per message of one run: its CPU ticks over the part of the load
 * generator's measured window that the samples bracket, divided by the messages in that part
 * (the reported rate times its length). Reading before and after the whole client run instead
 * would charge the client's warm-up to the messages of its measured seconds.
 */
export const cpuPerMessage = (
  samples: ReadonlyArray<Sample>,
  exitMs: number,
  load: LoadRun,
  ticksPerSecond: number
): number | null => {
  const from = exitMs - load.seconds * 1000 + MARGIN_MS
  const to = exitMs - MARGIN_MS
  const first = samples.find((sample) => sample.ms >= from)
  let last: Sample | undefined
  for (const sample of samples) if (sample.ms <= to) last = sample
  if (first === undefined || last === undefined || last.ms - first.ms < 100 || !(load.rate > 0)) return null
  const messages = load.rate * (last.ms - first.ms) / 1000
  return (last.ticks - first.ticks) / ticksPerSecond * 1e6 / messages
}
