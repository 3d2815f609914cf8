/**
 * The machine a benchmark ran on, read when it runs (a report written later, or on another
 * machine, must not describe the machine it is written on), and the one line the report prints
 * for it.
 */
import { existsSync, readFileSync } from "node:fs"
import { arch, cpus, loadavg, release, totalmem, type } from "node:os"

/** What the figures of one run depend on, beside the code measured. */
export interface Machine {
  /** As the kernel names it (/proc/cpuinfo's "model name"); virtual machines often name only the family. */
  readonly cpuModel: string
  /** Logical cores the process may use (load generator and server share them). */
  readonly cores: number
  readonly memoryBytes: number
  /** `os.type()` and `os.release()`, e.g. "Linux 6.18.44". */
  readonly kernel: string
  readonly arch: string
  /** The CPU reports the hypervisor flag: a virtual machine, whose neighbours may steal cycles; null off Linux. */
  readonly virtual: boolean | null
  /** The 1-minute load average when the run began: other work on the machine, which makes figures noisier. */
  readonly loadAverage: number
}

const hypervisorFlag = (): boolean | null => {
  if (!existsSync("/proc/cpuinfo")) return null
  const flags = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((line) => line.startsWith("flags"))
  return flags === undefined ? null : flags.split(/\s+/).includes("hypervisor")
}

/** Reads this machine's description; call it when measuring begins. */
export const readMachine = (): Machine => ({
  cpuModel: cpus()[0]?.model.trim() ?? "unknown",
  cores: cpus().length,
  memoryBytes: totalmem(),
  kernel: `${type()} ${release()}`,
  arch: arch(),
  virtual: hypervisorFlag(),
  loadAverage: loadavg()[0] ?? 0
})

/** What a results file says about its run, old files (before `machine` was recorded) included. */
export interface RunDescription {
  readonly date: string
  readonly node: string
  readonly cores: number
  readonly machine?: Machine
}

/** One line: CPU, cores, memory, kernel, Node, date — or, for an old file, what it recorded. */
export const describeMachine = (run: RunDescription): string => {
  const date = run.date.replace("T", " ").replace(/\.\d+Z$/, " UTC")
  const machine = run.machine
  if (machine === undefined) {
    return `${run.cores} cores, Node ${run.node}, ${date} (CPU, memory and kernel not recorded by this run)`
  }
  const gib = (machine.memoryBytes / 2 ** 30).toFixed(1)
  const virtual = machine.virtual === true ? " (virtual machine)" : ""
  return `${machine.cpuModel}${virtual}, ${machine.cores} cores, ${gib} GiB memory, ` +
    `${machine.kernel} ${machine.arch}, Node ${run.node}, ${date}, ` +
    `load average ${machine.loadAverage.toFixed(2)} at the start`
}
