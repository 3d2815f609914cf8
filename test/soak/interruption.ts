/**
 * The random-interruption property, run many times: a random sequence of public operations
 * (registrations, a pool lease, UDP receives single and batched, a TCP round trip) runs in a
 * fiber that is interrupted after a random number of turns. However far it got, every
 * registration, socket and operation in flight must be gone once it has been interrupted.
 * Sequences come from a seeded generator: a failure names the run's seed.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { Phase, PhaseResult } from "./phase.js"
import { differences, settled, snapshot } from "./state.js"

/** mulberry32: a small seeded generator, so that a failing run can be replayed by its seed. */
const generator = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const slice = (registration: RegisteredIo.Registration, offset: number, length: number) =>
  registration.unsafeSlice(offset, length) as RioBuf.RioBuf

type Step = Effect.Effect<unknown, unknown, RegisteredIo.RegisteredIo | Scope.Scope>

/** The steps a sequence is made of; each leaves what it opened in the sequence's scope. */
const steps: ReadonlyArray<Step> = [
  RegisteredIo.registerBuffer(new Uint8Array(300)),
  Effect.flatMap(RegisteredIo.RegisteredIo, (io) => RegisteredIo.allocateBuffer(io.pageSize + 1)),
  Effect.flatMap(BufferPool.make({ slotSize: 64, slots: 2 }), (pool) => pool.withLease(() => Effect.yieldNow())),
  // A receive that completes (a datagram to itself), then one that waits until interrupted.
  Effect.gen(function*() {
    const udp = yield* RegisteredSocket.udp()
    const memory = yield* RegisteredIo.allocateBuffer(256)
    yield* udp.sendTo(slice(memory, 0, 16), udp.address)
    yield* udp.receiveFrom(slice(memory, 64, 64))
    yield* Effect.fork(udp.receiveFrom(slice(memory, 128, 64)))
  }),
  Effect.gen(function*() {
    const udp = yield* RegisteredSocket.udp({ receiveRing: { slotSize: 256, slots: 4 } })
    const memory = yield* RegisteredIo.allocateBuffer(64)
    yield* udp.sendMany([{ buf: slice(memory, 0, 32), to: udp.address }, { buf: slice(memory, 0, 8), to: udp.address }])
    yield* udp.receiveMany()
  }),
  Effect.gen(function*() {
    const listener = yield* RegisteredSocket.listen({ port: 0 })
    const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
    const server = yield* listener.accept
    const memory = yield* RegisteredIo.allocateBuffer(128)
    yield* client.sendAll(slice(memory, 0, 64))
    yield* server.receive(slice(memory, 64, 64))
    yield* Effect.fork(client.receive(slice(memory, 0, 64)))
  })
]

export const interruption: Phase = {
  name: "random interruption of operation sequences",
  target: 10_000,
  run: (target, deadline): Effect.Effect<PhaseResult, unknown, RegisteredIo.RegisteredIo> =>
    Effect.gen(function*() {
      const problems: Array<string> = []
      const started = Date.now()
      let runs = 0
      let interruptedEarly = 0
      while (runs < target && Date.now() < deadline && problems.length === 0) {
        const seed = runs + 1
        const random = generator(seed)
        const length = 1 + Math.floor(random() * 6)
        const sequence = Array.from({ length }, () => steps[Math.floor(random() * steps.length)]!)
        const turns = Math.floor(random() * 40)
        const before = yield* snapshot
        const fiber = yield* Effect.fork(Effect.scoped(Effect.forEach(sequence, (step) => step, { discard: true })))
        for (let i = 0; i < turns; i++) yield* Effect.yieldNow()
        if (fiber.unsafePoll() === null) interruptedEarly++
        const exit = yield* Fiber.interrupt(fiber)
        if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
          problems.push(`seed ${seed}: the sequence failed: ${Cause.pretty(exit.cause)}`)
        }
        const after = yield* settled(before)
        const changed = differences(before, after)
        if (changed.length > 0) problems.push(`seed ${seed}: left behind ${changed.join(", ")}`)
        runs++
      }
      return {
        done: runs,
        seconds: (Date.now() - started) / 1000,
        problems,
        notes: [`${interruptedEarly} of ${runs} interrupted before their sequence ended`]
      }
    })
}
