/**
 * The examples as a user runs them: real processes, on the backend `EFFECT_RIO_BACKEND` names.
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process"
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const examples = fileURLToPath(new URL("../src/", import.meta.url))
const root = fileURLToPath(new URL("../../", import.meta.url))

/** The backends to run on here: the double everywhere, io_uring too on Linux. */
export const backends = process.platform === "linux" ? ["test", "koffi"] : ["test"]

/** Runs an example to its end. */
export const run = (file: string, args: ReadonlyArray<string>, backend: string) =>
  spawnSync(process.execPath, ["--import", "tsx", `${examples}${file}`, ...args], {
    encoding: "utf8",
    env: { ...process.env, EFFECT_RIO_BACKEND: backend },
    timeout: 60_000
  })

/**
 * Runs an example with the command line examples/README.md gives a user,
 * `npx -y pnpm@10 -C examples exec tsx src/<file> …`, from the repository root: through the
 * pnpm that runs this test when there is one (`npm_execpath`), else through npx.
 */
export const runAsDocumented = (file: string, args: ReadonlyArray<string>, backend: string) => {
  const pnpm = process.env.npm_execpath
  const [command, prefix] = pnpm !== undefined && /pnpm\.c?js$/.test(pnpm) ?
    [process.execPath, [pnpm]] :
    ["npx", ["-y", "pnpm@10"]]
  return spawnSync(command, [...prefix, "-C", "examples", "exec", "tsx", `src/${file}`, ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, EFFECT_RIO_BACKEND: backend },
    timeout: 120_000
  })
}

/**
 * Runs an example on io_uring as an ordinary user whose `ulimit -l` is `kib`: as nobody when
 * this process is root, since root's CAP_IPC_LOCK lifts RLIMIT_MEMLOCK.
 */
export const runWithMemlock = (file: string, kib: number) => {
  const isRoot = process.getuid?.() === 0
  const shell = ["-c", `ulimit -l ${kib} && exec "$0" "$@"`, process.execPath, "--import", "tsx", `src/${file}`]
  return spawnSync(
    isRoot ? "setpriv" : "sh",
    isRoot ? ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", ...shell] : shell,
    {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", EFFECT_RIO_BACKEND: "koffi" },
      encoding: "utf8",
      timeout: 60_000
    }
  )
}

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
