/**
 * The main demo (`npx pnpm@10 demo`): registers real buffers on this machine's backend and
 * shows what the kernel pinned before, during and after; handles bad input by error
 * name; and compares the page footprint of one BufferPool with 1,000 small registrations.
 *
 * EFFECT_RIO_BACKEND=test runs the same program on the in-memory double.
 */
import { BufferPool, RegisteredIo } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { program as catchErrors } from "./catch-errors.js"
import { runMain } from "./main.js"

/** Pages the kernel has pinned for this process, from /proc (Linux only). */
const vmPin = (): string => {
  try {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmPin:"))
    return line === undefined ? "n/a" : line.replace(/^VmPin:\s*/, "")
  } catch {
    return "n/a"
  }
}

const report = (label: string) =>
  Effect.gen(function*() {
    const io = yield* RegisteredIo.RegisteredIo
    const stats = yield* io.stats
    yield* Console.log(
      `${label.padEnd(8)} VmPin ${vmPin().padStart(8)} | registered buffers ${stats.registeredBuffers}, ` +
        `bytes ${stats.registeredBytes}, locked pages ${stats.lockedPages}`
    )
  })

const registrations = Effect.gen(function*() {
  yield* Console.log("\n1. Scoped registrations: acquire is RIORegisterBuffer, release RIODeregisterBuffer")
  yield* report("before")
  yield* Effect.scoped(Effect.gen(function*() {
    const native = yield* RegisteredIo.allocateBuffer(256 * 1024)
    const user = yield* RegisteredIo.registerBuffer(new Uint8Array(64 * 1024))
    const slice = yield* native.slice(4096, 1500)
    yield* Console.log(
      `         buffer ${native.id}: 256 KiB of page-aligned native memory; buffer ${user.id}: 64 KiB of JS memory`
    )
    yield* Console.log(`         a RIO_BUF of the first: ${JSON.stringify(slice)}`)
    yield* report("during")
  }))
  yield* report("after")
})

const footprint = Effect.gen(function*() {
  yield* Console.log("\n3. BufferPool: 1,000 buffers of 512 bytes")
  const io = yield* RegisteredIo.RegisteredIo
  const base = (yield* io.stats).lockedPages
  yield* Effect.scoped(Effect.gen(function*() {
    const pool = yield* BufferPool.make({ slotSize: 512, slots: 1000, zeroOnRelease: true })
    const echoed = yield* pool.withLease((lease) =>
      Effect.sync(() => {
        lease.bytes.set(new TextEncoder().encode("hello from a pooled slot"))
        return new TextDecoder().decode(lease.bytes.subarray(0, 24))
      })
    )
    yield* Console.log(
      `   one pool, one registration:    ${(yield* io.stats).lockedPages - base} locked pages ` +
        `(VmPin ${vmPin()}); a lease wrote "${echoed}"`
    )
  }))
  yield* Effect.scoped(Effect.gen(function*() {
    const memory = yield* RegisteredIo.allocateBuffer(1000 * io.pageSize)
    const before = (yield* io.stats).lockedPages
    for (let i = 0; i < 1000; i++) {
      yield* RegisteredIo.registerBuffer(memory.bytes.subarray(i * io.pageSize, i * io.pageSize + 512))
    }
    yield* Console.log(
      `   1,000 separate registrations:  ${(yield* io.stats).lockedPages - before} locked pages ` +
        `(VmPin ${vmPin()}): one page each, what the RIORegisterBuffer docs warn about`
    )
  }))
  yield* report("after")
})

const program = Effect.gen(function*() {
  const io = yield* RegisteredIo.RegisteredIo
  yield* Console.log(`effect-rio demo on the "${io.backend}" backend (page size ${io.pageSize})`)
  yield* registrations
  yield* Console.log("\n2. Bad input is a typed error, caught by name")
  yield* catchErrors
  yield* footprint
})

runMain(program)
