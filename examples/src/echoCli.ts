/**
 * What the echo examples share: their command line, the backend chosen by
 * `EFFECT_RIO_BACKEND`, and how a failure is told (its typed message, no stack trace).
 */
import type { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"

export interface Command {
  readonly mode: "server" | "client" | "both"
  readonly host: string
  readonly port: number
  readonly count: number
}

const usage = (name: string) =>
  `usage: ${name} server [--port P] | client --port P [--count N] | both [--count N]\n` +
  "  both runs a server and a client in one process: the only mode the in-memory double\n" +
  "  (EFFECT_RIO_BACKEND=test) supports, since its network lives inside one process."

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
  if (mode === "client" && port === 0) throw new Error(`client needs --port\n${usage(name)}`)
  return { mode, host: "127.0.0.1", port, count: flag("--count", 1000) }
}

export const layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown> = KoffiRio.layerConfig({ test: RioTest.layer() })

/** Runs `program`, printing a typed failure's message (and no stack) and exiting non-zero. */
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
  Effect.runPromiseExit(Effect.provide(program(command), layer)).then((exit) => {
    if (Exit.isSuccess(exit)) return
    const failure = Cause.failureOption(exit.cause)
    const error = failure._tag === "Some" ? failure.value as { _tag?: string; message?: string } : undefined
    console.error(
      error?.message !== undefined ? `${error._tag ?? "Error"}: ${error.message}` : Cause.pretty(exit.cause)
    )
    process.exitCode = 1
  })
}
