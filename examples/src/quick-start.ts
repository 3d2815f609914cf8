/**
 * The README's quick start, kept compiling and runnable:
 *
 *   npx pnpm@10 --filter @effect-rio/examples exec tsx src/quick-start.ts
 */
import { BufferPool, RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { Effect } from "effect"

const program = Effect.scoped(Effect.gen(function*() {
  // One registration for the life of the scope; released after in-flight I/O.
  const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(64 * 1024))
  const slice = yield* registration.slice(0, 1500) // a RIO_BUF; out of range is WSAEINVAL
  // Many small buffers: one page-aligned allocation, one registration, leased slots.
  const pool = yield* BufferPool.make({ slotSize: 2048, slots: 1024, zeroOnRelease: true })
  yield* pool.withLease((lease) => Effect.sync(() => lease.bytes.set(new Uint8Array([1, 2, 3]))))
  return slice
})).pipe(
  Effect.catchTag("WSAENOBUFS", (e) => Effect.logError(e.message)), // e.g. RLIMIT_MEMLOCK
  Effect.provide(KoffiRio.layer) // or RioTest.layer()
)

Effect.runPromise(program).then(console.log) // { bufferId: 0, offset: 0, length: 1500 }
