/**
 * A private PostgreSQL for the cluster deployment test: Debian's `postgresql` binaries (on the
 * PATH or under /usr/lib/postgresql/<version>/bin; .ci/run installs them), a fresh data
 * directory under the system's temporary directory, a free port on 127.0.0.1, trust
 * authentication for the `postgres` role; stopped and removed when the scope closes. PostgreSQL
 * refuses to run as root, so as root the server runs as the `postgres` user that the package
 * creates.
 */
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./ports.js"

/** The directory of `initdb` and `pg_ctl`, or `undefined` where PostgreSQL is not installed. */
export const binDir: string | undefined = (() => {
  const onPath = spawnSync("sh", ["-c", "command -v pg_ctl"], { encoding: "utf8" })
  if (onPath.status === 0 && onPath.stdout.trim() !== "") return path.dirname(fs.realpathSync(onPath.stdout.trim()))
  const root = "/usr/lib/postgresql"
  if (!fs.existsSync(root)) return undefined
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, "bin", "pg_ctl")))
  versions.sort((a, b) => Number(b) - Number(a))
  return versions.length === 0 ? undefined : path.join(root, versions[0]!, "bin")
})()

/**
 * PostgreSQL comes from Debian (.ci/run installs it). In CI a missing one fails the run; on a
 * developer's machine without it, the tests that need it are reported skipped with the reason.
 */
export const skipWithoutPostgres: boolean = binDir === undefined && process.env.CI === undefined

/** A test's title, carrying the reason when it is skipped for want of PostgreSQL. */
export const titleNeedingPostgres = (text: string): string =>
  skipWithoutPostgres ? `${text} — skipped: PostgreSQL is not installed (apt-get install postgresql)` : text

const asServer = (command: string, args: ReadonlyArray<string>) => {
  const root = process.getuid?.() === 0
  const result = root
    ? spawnSync("runuser", ["-u", "postgres", "--", command, ...args], { encoding: "utf8" })
    : spawnSync(command, args, { encoding: "utf8" })
  if (result.status !== 0) {
    throw new Error(`${path.basename(command)} failed (${result.status}): ${result.stderr || result.stdout}`)
  }
}

/** A running PostgreSQL: its port on 127.0.0.1 and a connection URL for the `postgres` database. */
export const startPostgres = Effect.acquireRelease(
  Effect.promise(async () => {
    if (binDir === undefined) throw new Error("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-rio-pg-"))
    if (process.getuid?.() === 0) spawnSync("chown", ["postgres:postgres", dir])
    const data = path.join(dir, "data")
    asServer(path.join(binDir, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    const port = await freePort()
    asServer(path.join(binDir, "pg_ctl"), [
      "-D",
      data,
      "-l",
      path.join(dir, "server.log"),
      "-w",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      "start"
    ])
    return { dir, data, port, url: `postgres://postgres@127.0.0.1:${port}/postgres` }
  }),
  ({ data, dir }) =>
    Effect.sync(() => {
      asServer(path.join(binDir!, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"])
      fs.rmSync(dir, { recursive: true, force: true })
    })
)
