/**
 * How every example ends: on the backend `EFFECT_RIO_BACKEND` names (`koffi`, the default, or
 * `test`), and, when it fails with one of effect-rio's typed errors, by printing that error's
 * message — it says what happened and what to do — and exiting 1, without a stack trace.
 * Anything else (a defect) is a bug and is printed whole.
 */
import type { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** The backend by `EFFECT_RIO_BACKEND`, the double among the choices. */
export const layer = KoffiRio.layerConfig({ test: RioTest.layer() })

interface Described {
  readonly _tag: string
  readonly message: string
  readonly code?: number
}

const isDescribed = (error: unknown): error is Described =>
  typeof error === "object" && error !== null && typeof (error as Described)._tag === "string" &&
  typeof (error as Described).message === "string"

/** `WSAENOBUFS (10055): …` for a typed failure; undefined for anything else. */
export const describe = (cause: Cause.Cause<unknown>): string | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure) || !isDescribed(failure.value)) return undefined
  const { _tag, code, message } = failure.value
  return `${_tag}${code === undefined ? "" : ` (${code})`}: ${message}`
}

/** Ends the process the way every example does: quietly on success, else the message and exit 1. */
const finish = <A, E>(exit: Exit.Exit<A, E>): void => {
  if (Exit.isSuccess(exit)) return
  console.error(describe(exit.cause) ?? Cause.pretty(exit.cause))
  process.exitCode = 1
}

/** Runs `program` on the configured backend, as the last line of an example. */
export const runMain = <A, E>(program: Effect.Effect<A, E, RegisteredIo.RegisteredIo>): void => {
  Effect.runPromiseExit(Effect.provide(program, layer)).then(finish)
}

/** Runs a program that needs no registered I/O (a plain `@effect/platform` client), ending as `runMain` does. */
export const runPlain = <A, E>(program: Effect.Effect<A, E>): void => {
  Effect.runPromiseExit(program).then(finish)
}
