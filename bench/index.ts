/**
 * `pnpm bench`: prints the tables and writes bench/results/latest.json. Every figure is
 * the median of several rounds in this one run; compare the ratios, not absolute times.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { floors } from "./floors.js"
import type { Figure } from "./measure.js"
import { micros, ratio } from "./measure.js"
import { footprint, pool } from "./pool.js"
import { registration } from "./registration.js"

const quick = process.argv.includes("--quick")
const plan = quick ? { rounds: 3, iterations: 2_000 } : { rounds: 9, iterations: 20_000 }

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void => {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")
  console.log(line(header))
  console.log(widths.map((width) => "-".repeat(width)).join("-|-"))
  rows.forEach((row) => console.log(line(row)))
  console.log()
}

const program = Effect.gen(function*() {
  console.log(`node ${process.version}, ${cpus().length} cores, ${plan.rounds} rounds of ${plan.iterations}\n`)
  const floor = yield* floors(plan)
  const pairs = yield* registration(plan)
  const linux = KoffiRio.layerLinux()
  const pools = [yield* Effect.provide(pool(plan), linux), yield* Effect.provide(pool(plan), RioTest.layer())]
  const footprints = [yield* Effect.provide(footprint, linux), yield* Effect.provide(footprint, RioTest.layer())]

  console.log(
    "Floors (Effect alone, µs): onExit(no-op) " + micros(floor.onExit.ns) +
      ", Effect.scoped(Effect.void) " + micros(floor.scopedVoid.ns) + "\n"
  )
  console.log("Register + deregister pair, Linux io_uring (µs per pair, median)")
  table(
    ["size", "(a) direct Koffi", "(b) withBuffer", "(c) scoped", "(b)/(a)", "(c)/(a)", "(b)-(a)-onExit"],
    pairs.map((row) => [
      row.size,
      micros(row.direct.ns),
      micros(row.withBuffer.ns),
      micros(row.scoped.ns),
      ratio(row.withBuffer.ns, row.direct.ns),
      ratio(row.scoped.ns, row.direct.ns),
      micros(row.withBuffer.ns - row.direct.ns - floor.onExit.ns)
    ])
  )
  console.log("BufferPool, 512-byte buffers (µs per lease+release, median; floor = Effect.onExit around a no-op)")
  table(
    [
      "backend",
      "withLease",
      "scoped lease",
      "withBuffer/op",
      "withLease/floor",
      "withBuffer/withLease",
      "sync cycles/s"
    ],
    pools.map((row) => [
      row.backend,
      micros(row.withLease.ns),
      micros(row.scopedLease.ns),
      micros(row.withBuffer.ns),
      ratio(row.withLease.ns, floor.onExit.ns),
      ratio(row.withBuffer.ns, row.withLease.ns),
      (1e9 / row.syncCycle.ns / 1e6).toFixed(1) + " M"
    ])
  )
  console.log("Footprint of 1,000 buffers of 512 bytes (locked pages)")
  table(
    ["backend", "page size", "one BufferPool", "1,000 registrations"],
    footprints.map((row) => [row.backend, String(row.pageSize), String(row.pooledPages), String(row.separatePages)])
  )
  const figures = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value, (_, v: unknown) => typeof v === "bigint" ? String(v) : v))
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    plan,
    floors: floor,
    registration: pairs,
    pool: pools,
    footprint: footprints
  }
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true })
  writeFileSync(new URL("./results/latest.json", import.meta.url), JSON.stringify(figures(results), null, 2) + "\n")
  console.log("wrote bench/results/latest.json")
})

export type { Figure }

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
