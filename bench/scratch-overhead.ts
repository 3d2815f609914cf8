import { RegisteredIo } from "@effect-rio/core"
import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver } from "@effect-rio/core/Driver"
import * as Effect from "effect/Effect"

let next = 0
const driver: Driver = {
  backend: "noop", pageSize: 4096, maxBufferLength: 2 ** 32,
  addressOf: () => 4096n,
  register: () => BufferId.unsafeMake(next++ & 1023),
  deregister: () => undefined,
  allocate: () => { throw new Error() },
  free: () => {}
}
const N = 200_000
const data = new Uint8Array(4096)
const time = (name: string, eff: Effect.Effect<unknown, unknown, RegisteredIo.RegisteredIo>) =>
  Effect.gen(function*() {
    for (let r = 0; r < 3; r++) {
      const t = performance.now()
      yield* eff
      const dt = performance.now() - t
      if (r === 2) console.log(name, ((dt * 1000) / N).toFixed(3), "us/op")
    }
  })
const loop = (f: () => Effect.Effect<unknown, unknown, RegisteredIo.RegisteredIo>) => Effect.suspend(() => {
  let i = 0
  return Effect.whileLoop({ while: () => i++ < N, body: f, step: () => {} })
})
const main = Effect.scoped(Effect.flatMap(RegisteredIo.fromDriver(driver), (s) => Effect.provideService(program0(), RegisteredIo.RegisteredIo, s)))
function program0() { return Effect.gen(function*() {
  const io = yield* RegisteredIo.RegisteredIo
  const t = performance.now()
  for (let i = 0; i < N; i++) { const id = driver.register(0n, 1) as BufferId.BufferId; driver.deregister(id, 0) }
  console.log("raw", (((performance.now() - t) * 1000) / N).toFixed(3))
  yield* time("noop effect", loop(() => Effect.void))
  yield* time("onExit", loop(() => Effect.onExit(Effect.void, () => Effect.void)))
  yield* time("acquireUseRelease", loop(() => Effect.acquireUseRelease(Effect.void, () => Effect.void, () => Effect.void)))
  yield* time("raw service", loop(() => Effect.flatMap(io.registerBuffer(data), io.deregisterBuffer)))
  yield* time("withBuffer", loop(() => RegisteredIo.withBuffer(data, () => Effect.void)))
  yield* time("scoped", loop(() => Effect.scoped(RegisteredIo.registerBuffer(data))))
}) }
Effect.runPromise(main)
