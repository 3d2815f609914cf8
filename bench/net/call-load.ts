/**
 * bench/net: what the Effect-client load generators (rpc-load.ts, cluster-load.ts) share — the
 * command line `<name> <port> <concurrency> <seconds>`, `concurrency` workers each calling in a
 * loop for 0.5 s of warm-up and then `seconds` measured, and the one JSON line loadgen prints:
 * `{"requests":…,"seconds":…,"rate":…,"errors":…}` (errors: failed calls and wrong answers).
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const WARM_UP_MS = 500

/** `port`, `concurrency`, `seconds` from the command line; the usage and exit 2 when they are wrong. */
export const parseArgs = (
  name: string
): { readonly port: number; readonly concurrency: number; readonly seconds: number } => {
  const [port, concurrency, seconds] = process.argv.slice(2).map(Number)
  if (!(port! > 0 && concurrency! > 0 && seconds! > 0)) {
    console.error(`usage: ${name} <port> <concurrency> <seconds>`)
    process.exit(2)
  }
  return { port: port!, concurrency: concurrency!, seconds: seconds! }
}

/** Keeps `concurrency` calls in flight (`call(i)` answers whether call `i` got the right answer) and counts the measured ones. */
export const keepCalling = <E, R>(
  concurrency: number,
  seconds: number,
  call: (i: number) => Effect.Effect<boolean, E, R>
) =>
  Effect.gen(function*() {
    let phase: "warm-up" | "measured" | "done" = "warm-up"
    let requests = 0
    let errors = 0
    let n = 0
    const worker = Effect.whileLoop({
      while: () => phase !== "done",
      body: () => call(n++),
      step: (ok) => {
        if (phase !== "measured") return
        if (ok) requests++
        else errors++
      }
    })
    const clock = Effect.gen(function*() {
      yield* Effect.sleep(WARM_UP_MS)
      phase = "measured"
      const started = performance.now()
      yield* Effect.sleep(seconds * 1000)
      phase = "done"
      return (performance.now() - started) / 1000
    })
    const [measured] = yield* Effect.all([
      clock,
      Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded" })
    ], { concurrency: "unbounded" })
    return { requests, seconds: measured, rate: requests / measured, errors }
  })

/** Runs `program` and prints its figures as one JSON line (its failure, whole, and exit 1 otherwise); then exits. */
export const report = <E>(
  program: Effect.Effect<{ requests: number; seconds: number; rate: number; errors: number }, E>
): void => {
  Effect.runPromiseExit(program).then((exit) => {
    if (Exit.isSuccess(exit)) {
      const { errors, rate, requests, seconds } = exit.value
      console.log(
        JSON.stringify({ requests, seconds: Number(seconds.toFixed(3)), rate: Number(rate.toFixed(1)), errors })
      )
      process.exit(0)
    }
    console.error(Cause.pretty(exit.cause))
    process.exit(1)
  })
}
