/**
 * Where the bench's processes run. Pinned (the default where it can be): every load generator
 * on CPU 0 and every server on CPU 1, with `taskset`, which sets the affinity and then
 * becomes the program (same pid, so /proc still reads the server). Each side then has one
 * core of its own in every run: left to the scheduler, a server sometimes shares a core with
 * its load generator and sometimes not, and a scenario's ratio moves with that luck. (Not all
 * of it: node:net on 4 × 64 KiB still swings between runs pinned, less often than unpinned.)
 * A server's helper threads (V8's, libuv's) share its core, on every side alike.
 *
 * Unpinned (`--no-pin`, or a machine with one core or without `taskset`): wherever the
 * scheduler puts them, as before.
 */
import { execFileSync } from "node:child_process"
import { cpus } from "node:os"

/** How the processes were placed, and why not pinned when they were not. */
export interface Placement {
  readonly pinned: boolean
  /** Why they run unpinned (absent when pinned). */
  readonly reason?: string
}

/** CPU of each side when pinned. */
const CPU = { client: "0", server: "1" } as const

/** Pinned if asked and possible; else the reason. */
export const choosePlacement = (pin: boolean): Placement => {
  if (!pin) return { pinned: false, reason: "--no-pin" }
  if (cpus().length < 2) return { pinned: false, reason: "one core" }
  try {
    execFileSync("taskset", ["-c", CPU.server, "true"], { stdio: "ignore" })
    return { pinned: true }
  } catch {
    return { pinned: false, reason: "taskset did not run (util-linux)" }
  }
}

/** `file args` as the side's program: through `taskset` when pinned (no placement: not pinned). */
export const placed = (
  placement: Placement | undefined,
  side: keyof typeof CPU,
  file: string,
  args: ReadonlyArray<string>
): readonly [string, ReadonlyArray<string>] =>
  placement?.pinned === true ? ["taskset", ["-c", CPU[side], file, ...args]] : [file, args]

/** The placement as the report's plan states it. */
export const describePlacement = (placement: Placement | undefined): string =>
  placement === undefined
    ? "placed by the scheduler"
    : placement.pinned
    ? "load generators pinned to CPU 0 and servers to CPU 1 (taskset)"
    : `placed by the scheduler (not pinned: ${placement.reason})`
