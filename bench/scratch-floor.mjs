import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
const N = 300_000
const run = (name, f) => {
  for (let r = 0; r < 3; r++) {
    const t = performance.now()
    Effect.runSync(Effect.suspend(() => { let i = 0; return Effect.whileLoop({ while: () => i++ < N, body: f, step: () => {} }) }))
    if (r === 2) console.log(name.padEnd(30), (((performance.now() - t) * 1000) / N).toFixed(3), "us")
  }
}
run("void", () => Effect.void)
run("suspend", () => Effect.suspend(() => Effect.void))
run("uninterruptible", () => Effect.uninterruptible(Effect.void))
run("uninterruptibleMask+restore", () => Effect.uninterruptibleMask((restore) => restore(Effect.void)))
run("matchCauseEffect", () => Effect.matchCauseEffect(Effect.void, { onFailure: Effect.failCause, onSuccess: () => Effect.void }))
run("mask+match", () => Effect.uninterruptibleMask((restore) => Effect.matchCauseEffect(restore(Effect.void), { onFailure: Effect.failCause, onSuccess: () => Effect.void })))
run("onExit", () => Effect.onExit(Effect.void, () => Effect.void))
run("ensuring", () => Effect.ensuring(Effect.void, Effect.void))
run("exit+flatMap", () => Effect.uninterruptibleMask((restore) => Effect.flatMap(Effect.exit(restore(Effect.void)), (exit) => Effect.zipRight(Effect.void, exit))))
run("withFiberRuntime", () => Effect.withFiberRuntime(() => Effect.void))
