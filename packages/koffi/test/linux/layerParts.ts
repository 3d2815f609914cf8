/**
 * The parts of the Linux layer suites (layer.test.ts, layerLimits.test.ts): what the kernel
 * (VmPin) and the service say is pinned, raw memory, garbage collection and table ids.
 */
import { RegisteredIo } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import koffi from "koffi"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { readVmPinKiB } from "../../src/internal/linux/vmpin.js"

export const KiB = 1024
export const MiB = 1024 * KiB
export const root = fileURLToPath(new URL("../../../../", import.meta.url))
export const childScript = fileURLToPath(new URL("./fixtures/layer-memlock-child.ts", import.meta.url))

// --- helpers ------------------------------------------------------------------------------

export interface Snapshot {
  readonly vmPinKiB: number
  readonly stats: RegisteredIo.Stats
}

/** What the kernel (VmPin) and the service (stats) say is pinned right now. */
export const snapshot: Effect.Effect<Snapshot, never, RegisteredIo.RegisteredIo> = Effect.map(
  Effect.flatMap(RegisteredIo.RegisteredIo, (io) => io.stats),
  (stats) => ({ vmPinKiB: readVmPinKiB(), stats })
)

/** Both views are exactly what they were at `start`: nothing pinned, no slot taken, no byte counted. */
export const assertBackTo = (start: Snapshot, what: string) =>
  Effect.map(snapshot, (now) => assert.deepStrictEqual(now, start, `not back to the start ${what}`))

/**
 * Asserts the growth since `start`: VmPin by exactly `pages` pages, and the service's
 * `lockedPages` by the same number — the service's accounting must be the kernel's.
 */
export const assertPinned = (start: Snapshot, pages: number, registrations: number) =>
  Effect.gen(function*() {
    const io = yield* RegisteredIo.RegisteredIo
    const now = yield* snapshot
    const pageKiB = io.pageSize / KiB
    assert.strictEqual(now.vmPinKiB - start.vmPinKiB, pages * pageKiB, "VmPin delta")
    assert.strictEqual(now.stats.lockedPages - start.stats.lockedPages, (now.vmPinKiB - start.vmPinKiB) / pageKiB)
    assert.strictEqual(now.stats.registeredBuffers - start.stats.registeredBuffers, registrations)
  })

export const pagesCovered = (offset: number, length: number, pageSize: number): number =>
  Math.floor((offset + length - 1) / pageSize) - Math.floor(offset / pageSize) + 1

/** Native memory from the backend without registering it, freed when the scope closes. */
export const rawMemory = (byteLength: number) =>
  Effect.flatMap(
    RegisteredIo.RegisteredIo,
    (io) => Effect.acquireRelease(io.rawAllocate(byteLength), (memory) => Effect.orDie(io.rawFree(memory)))
  )

export type Gc = (options?: { readonly type: "minor" | "major" }) => void

/**
 * V8's collector: `globalThis.gc` under `node --expose-gc`, otherwise the same function from
 * a fresh context once the flag is set at run time (as driver.test.ts does), so the suite
 * needs no worker flags. Throws instead of skipping: without a GC these tests prove nothing.
 */
export const collector = (): Gc => {
  const exposed = (globalThis as { gc?: unknown }).gc
  if (typeof exposed === "function") return exposed as Gc
  v8.setFlagsFromString("--expose-gc")
  const gc: unknown = vm.runInNewContext("typeof gc === 'function' ? gc : undefined")
  if (typeof gc !== "function") {
    throw new Error("No gc(): run node with --expose-gc (vitest: poolOptions.forks.execArgv)")
  }
  return gc as Gc
}

/**
 * Scavenges twice (each moves the young objects: a small array's on-heap bytes go with them),
 * then a forced full mark-compact. Plain `gc()`, not `gc({ type: "major" })`: only the forced
 * form also clears WeakRefs.
 */
export const collectAll = (gc: Gc): void => {
  gc({ type: "minor" })
  gc({ type: "minor" })
  gc()
}

/**
 * Fills the heap with small objects and typed arrays and keeps one in `keepEvery`: once
 * promoted and thinned out, old-space pages are fragmented, which is what makes a full GC
 * compact (move) the survivors — including our registered arrays' JS objects.
 */
export const churn = (count: number, keepEvery: number): Array<unknown> => {
  const kept: Array<unknown> = []
  for (let i = 0; i < count; i++) {
    const garbage = { i, bytes: new Uint8Array(1 + (i % 64)), text: `garbage ${i}` }
    if (i % keepEvery === 0) kept.push(garbage)
  }
  return kept
}

/**
 * The kernel was handed `registration.address`; prove that this is still where the JS bytes
 * live: V8 reports the same address for the array, and bytes written on either side — the JS
 * view or a native view of that address — are seen on the other.
 */
export const assertKernelSeesJs = (registration: RegisteredIo.Registration, bytes: Uint8Array, seed: number) => {
  assert.strictEqual(koffi.address(bytes), registration.address)
  const native = new Uint8Array(koffi.view(registration.address, bytes.byteLength))
  bytes.fill(seed & 0xFF)
  assert.isTrue(native.every((byte) => byte === (seed & 0xFF)), "a JS write is missing at the registered address")
  native[bytes.byteLength - 1] = ~seed & 0xFF
  assert.strictEqual(bytes[bytes.byteLength - 1], ~seed & 0xFF, "a write at the registered address is missing in JS")
  assert.strictEqual(registration.bytes[bytes.byteLength - 1], ~seed & 0xFF)
}

/**
 * How many of `refs` are still alive after collecting on up to 50 later macrotasks: a WeakRef
 * target is kept until the job that made or read it ends, and the runtime decides when that
 * is, so a single GC can see everything alive. A real leak stays alive on every round.
 */
export const survivors = (gc: Gc, refs: ReadonlyArray<WeakRef<object>>) =>
  Effect.promise(async () => {
    let alive = refs.length
    for (let round = 0; round < 50 && alive > 0; round++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      collectAll(gc)
      alive = refs.filter((ref) => ref.deref() !== undefined).length
    }
    return alive
  })

/** The ids the table hands out next: registers `count` buffers at once, then releases them. */
export const nextIds = (count: number) =>
  Effect.scoped(
    Effect.forEach(
      Array.from({ length: count }, () => new Uint8Array(8)),
      (bytes) => Effect.map(RegisteredIo.registerBuffer(bytes), (registration) => registration.id)
    )
  )

// --- tests --------------------------------------------------------------------------------
