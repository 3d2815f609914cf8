/**
 * The echo examples' command line.
 */
import type { RegisteredIo } from "@effect-rio/core"
import type * as Effect from "effect/Effect"
import { runMain } from "./main.js"

export interface Command {
  readonly mode: "server" | "client" | "both"
  readonly host: string
  readonly port: number
  readonly count: number
  /** A Unix domain socket's path instead of the port (`--path`, for the examples that take one). */
  readonly path?: string
}

const usage = (name: string) =>
  `usage: ${name} server [--port P] | client --port P [--count N] | both [--count N]\n` +
  "  both runs a server and a client in one process: the only mode the in-memory double\n" +
  "  (EFFECT_RIO_BACKEND=test) supports, since its network lives inside one process.\n" +
  "  tcp-echo takes --path F instead of --port: a Unix domain socket (Linux and the double)."

export const parse = (name: string, argv: ReadonlyArray<string>): Command => {
  const [mode, ...rest] = argv
  const flag = (flagName: string, fallback: number) => {
    const at = rest.indexOf(flagName)
    if (at < 0) return fallback
    const value = Number(rest[at + 1])
    if (!Number.isInteger(value) || value < 0) throw new Error(`${flagName} needs a non-negative integer`)
    return value
  }
  if (mode !== "server" && mode !== "client" && mode !== "both") throw new Error(usage(name))
  const port = flag("--port", 0)
  const at = rest.indexOf("--path")
  const path = at < 0 ? undefined : rest[at + 1]
  if (at >= 0 && (path === undefined || path === "")) throw new Error("--path needs a socket path")
  if (mode === "client" && port === 0 && path === undefined) throw new Error(`client needs --port\n${usage(name)}`)
  return { mode, host: "127.0.0.1", port, count: flag("--count", 1000), ...(path === undefined ? {} : { path }) }
}

/** Parses the command line (the usage and exit 2 when it is wrong), then runs `program` with `runMain`. */
export const main = (
  name: string,
  program: (command: Command) => Effect.Effect<void, unknown, RegisteredIo.RegisteredIo>
) => {
  let command: Command
  try {
    command = parse(name, process.argv.slice(2))
  } catch (error) {
    console.error((error as Error).message)
    process.exit(2)
  }
  runMain(program(command))
}
