/**
 * The examples as a user runs them: real processes, on the backend `EFFECT_RIO_BACKEND` names.
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process"
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const examples = fileURLToPath(new URL("../src/", import.meta.url))

/** The backends to run on here: the double everywhere, io_uring too on Linux. */
export const backends = process.platform === "linux" ? ["test", "koffi"] : ["test"]

/** Runs an example to its end. */
export const run = (file: string, args: ReadonlyArray<string>, backend: string) =>
  spawnSync(process.execPath, ["--import", "tsx", `${examples}${file}`, ...args], {
    encoding: "utf8",
    env: { ...process.env, EFFECT_RIO_BACKEND: backend },
    timeout: 60_000
  })

/** Starts an example server and resolves with the port of its "listening <port>" line. */
export const startServer = (file: string, args: ReadonlyArray<string>, backend: string) => {
  const server: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ["--import", "tsx", `${examples}${file}`, ...args],
    { env: { ...process.env, EFFECT_RIO_BACKEND: backend } }
  )
  const port = new Promise<number>((resolve, reject) => {
    server.stdout.on("data", (chunk: Buffer) => {
      const match = /listening (\d+)/.exec(chunk.toString())
      if (match !== null) resolve(Number(match[1]))
    })
    server.on("exit", (code) => reject(new Error(`server exited with ${code}`)))
  })
  return { port, stop: () => server.kill() }
}
