/**
 * bench/net: the PostgreSQL of the cluster scenario (its runners' registry), started like the
 * cluster tests' one (packages/platform/test/postgres.ts: Debian's server, a private data
 * directory and port) and stopped when the bench ends. Off the measured path: the scenario's
 * calls are volatile, so no message touches the database.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { startPostgres } from "../../packages/platform/test/postgres.js"

/** A running PostgreSQL (its port and how to stop it), or why there is none. */
export const startBenchPostgres = async (): Promise<
  { readonly port: number; readonly stop: () => Promise<void> } | string
> => {
  const scope = Effect.runSync(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.extend(startPostgres, scope))
  const stop = () => Effect.runPromise(Scope.close(scope, Exit.void))
  if (Exit.isSuccess(exit)) return { port: exit.value.port, stop }
  await stop()
  return `PostgreSQL could not start: ${(Cause.squash(exit.cause) as Error).message}`
}
