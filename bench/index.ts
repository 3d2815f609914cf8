/**
 * `pnpm bench`: prints the tables and writes bench/results/latest.json. Every figure is
 * the median of several rounds in this one run, with the candidates' rounds interleaved;
 * compare the ratios, not absolute times.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"
import { micros, ratio, table } from "./measure.js"
import { footprint, pool } from "./pool.js"
import { registration } from "./registration.js"
import { readMachine } from "./report/machine.js"
import type { LatestResults } from "./report/micro-tables.js"
import { findRoot } from "./root.js"

const quick = process.argv.includes("--quick")
const plan = quick ? { rounds: 3, iterations: 2_000 } : { rounds: 15, iterations: 20_000 }

const program = Effect.gen(function*() {
  const machine = readMachine()
  console.log(`node ${process.version}, ${cpus().length} cores, ${plan.rounds} rounds of ${plan.iterations}\n`)
  const pairs = yield* registration(plan)
  const linux = KoffiRio.layerLinux()
  const pools = [yield* Effect.provide(pool(plan), linux), yield* Effect.provide(pool(plan), RioTest.layer())]
  const footprints = [yield* Effect.provide(footprint, linux), yield* Effect.provide(footprint, RioTest.layer())]

  console.log("Register + deregister pair, Linux io_uring (µs per pair, median)")
  console.log("floors: onExit = Effect.onExit around a no-op; scoped(void) = Effect.scoped(Effect.void)")
  table(
    [
      "size",
      "(a) direct",
      "(b) withBuffer",
      "(c) scoped",
      "(b)/(a)",
      "(c)/(a)",
      "onExit",
      "scoped(void)",
      "(b)-(a)-onExit"
    ],
    pairs.map((row) => [
      row.size,
      micros(row.direct.ns),
      micros(row.withBuffer.ns),
      micros(row.scoped.ns),
      ratio(row.withBuffer.ns, row.direct.ns),
      ratio(row.scoped.ns, row.direct.ns),
      micros(row.floor.ns),
      micros(row.scopedFloor.ns),
      micros(row.withBuffer.ns - row.direct.ns - row.floor.ns)
    ])
  )
  console.log("BufferPool, 512-byte buffers (µs per lease+release, median; floor = Effect.onExit around a no-op)")
  table(
    [
      "backend",
      "floor",
      "withLease",
      "scoped lease",
      "tryWithLease",
      "withBuffer/op",
      "withLease/floor",
      "withBuffer/withLease"
    ],
    pools.map((row) => [
      row.backend,
      micros(row.floor.ns),
      micros(row.withLease.ns),
      micros(row.scopedLease.ns),
      micros(row.tryWithLease.ns),
      micros(row.withBuffer.ns),
      ratio(row.withLease.ns, row.floor.ns),
      ratio(row.withBuffer.ns, row.withLease.ns)
    ])
  )
  console.log("Footprint of 1,000 buffers of 512 bytes (locked pages)")
  table(
    ["backend", "page size", "one BufferPool", "1,000 registrations"],
    footprints.map((row) => [row.backend, String(row.pageSize), String(row.pooledPages), String(row.separatePages)])
  )
  const results: LatestResults = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    machine,
    plan,
    registration: pairs,
    pool: pools,
    footprint: footprints
  }
  // Not beside this file: bundled, it runs from bench/build.
  const directory = join(findRoot(), "bench", "results")
  mkdirSync(directory, { recursive: true })
  writeFileSync(join(directory, "latest.json"), JSON.stringify(results, null, 2) + "\n")
  console.log("wrote bench/results/latest.json")
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
