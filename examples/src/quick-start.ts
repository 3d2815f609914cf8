/**
 * The README's quick start, kept compiling and runnable:
 *
 *   npx -y pnpm@10 -C examples exec tsx src/quick-start.ts
 */
import { BufferPool, RegisteredIo } from "@effect-rio/core"
import { Console, Effect } from "effect"
import { layer, runPlain } from "./main.js"

const program = Effect.scoped(Effect.gen(function*() {
  // One registration for the life of the scope; released after in-flight I/O.
  const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(64 * 1024))
  const slice = yield* registration.slice(0, 1500) // a RIO_BUF; out of range is WSAEINVAL
  // Many small buffers: one page-aligned allocation, one registration, leased slots.
  const pool = yield* BufferPool.make({ slotSize: 2048, slots: 1024, zeroOnRelease: true })
  yield* pool.withLease((lease) => Effect.sync(() => lease.bytes.set([1, 2, 3])))
  yield* Console.log("a RIO_BUF of the registration:", { ...slice }) // { bufferId: 0, offset: 0, length: 1500 }
}))

// On KoffiRio.layer, or RioTest.layer() with EFFECT_RIO_BACKEND=test. What a small `ulimit -l`
// gives is caught as in the README: no ring at all (`ulimit -l 0`) is RioUnavailable, a
// registration beyond the limit WSAENOBUFS; either message says what to raise. Any other typed
// failure prints its message and exits 1 (runPlain).
runPlain(program.pipe(
  Effect.provide(layer),
  Effect.catchTags({
    WSAENOBUFS: (e) => Console.error(e.message),
    RioUnavailable: (e) => Console.error(e.message)
  })
))
