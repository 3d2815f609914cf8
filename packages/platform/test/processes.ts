/**
 * Node programs run as their own processes by the cluster tests (a runner per process, as
 * deployed): started until they print that they are ready, or run to their end.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))

/** A started process: what it printed so far (stdout and stderr), and a way to stop it. */
export interface Started {
  readonly output: () => string
  readonly kill: (signal?: NodeJS.Signals) => void
}

/**
 * Starts `node --import tsx <script> …args` from the repository root, up once its output
 * contains `ready`; stopped with SIGKILL (if still running) when the scope closes. Fails with its
 * output if it exits first or is not ready within 60 s.
 */
export const startUntil = (
  script: string,
  args: ReadonlyArray<string>,
  ready: string
): Effect.Effect<Started, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Started, Error>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      let up = false
      const started: Started = { output: () => output, kill: (signal = "SIGKILL") => void child.kill(signal) }
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        if (!up && output.includes(ready)) {
          up = true
          resume(Effect.succeed(started))
        }
      })
      child.stderr.on("data", (chunk: Buffer) => void (output += chunk.toString()))
      child.on("exit", (code, signal) => {
        if (!up) resume(Effect.fail(new Error(`${script} ${args.join(" ")} exited (${code ?? signal}): ${output}`)))
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(
      Effect.timeoutFail({
        duration: "60 seconds",
        onTimeout: () => new Error(`${script} ${args.join(" ")} not ready`)
      })
    ),
    (started) => Effect.sync(() => started.kill())
  )

/** Runs `node --import tsx <script> …args` from the repository root to its end: its exit code and output. */
export const runToEnd = (
  script: string,
  args: ReadonlyArray<string>
): Effect.Effect<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }> =>
  Effect.async((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    child.on("exit", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
