/**
 * The README's quick start, kept compiling and runnable:
 *
 *   npx -y pnpm@10 -C examples exec tsx src/quick-start.ts
 */
import { BufferPool, RegisteredIo } from "@effect-rio/core"
import { Console, Effect } from "effect"
import { runMain } from "./main.js"

const program = Effect.scoped(Effect.gen(function*() {
  // One registration for the life of the scope; released after in-flight I/O.
  const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(64 * 1024))
  const slice = yield* registration.slice(0, 1500) // a RIO_BUF; out of range is WSAEINVAL
  // Many small buffers: one page-aligned allocation, one registration, leased slots.
  const pool = yield* BufferPool.make({ slotSize: 2048, slots: 1024, zeroOnRelease: true })
  yield* pool.withLease((lease) => Effect.sync(() => lease.bytes.set([1, 2, 3])))
  yield* Console.log("a RIO_BUF of the registration:", { ...slice }) // { bufferId: 0, offset: 0, length: 1500 }
}))

// On KoffiRio.layer, or RioTest.layer() with EFFECT_RIO_BACKEND=test. A typed failure (for
// example WSAENOBUFS when `ulimit -l` is too small) prints its message and exits 1.
runMain(program)
