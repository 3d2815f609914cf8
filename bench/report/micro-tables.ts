/**
 * The page's section for bench/results/latest.json (`pnpm bench`'s registration and pool
 * benchmarks): its shape and its tables, each time in µs per operation as the median of its
 * rounds, with the ratios `pnpm bench` prints.
 */
import type { Figure, Plan } from "../measure.js"
import type { Footprint, PoolRow } from "../pool.js"
import type { RegistrationRow } from "../registration.js"
import type { Machine } from "./machine.js"
import { describeMachine } from "./machine.js"
import { markdownTable } from "./markdown.js"

/** All of bench/results/latest.json. */
export interface LatestResults {
  readonly date: string
  readonly node: string
  readonly cores: number
  /** Absent in files written before it was recorded. */
  readonly machine?: Machine
  readonly plan: Plan
  readonly registration: ReadonlyArray<RegistrationRow>
  readonly pool: ReadonlyArray<PoolRow>
  readonly footprint: ReadonlyArray<Footprint>
}

const micros = (figure: Figure): string => (figure.ns / 1000).toFixed(3)
const ratio = (value: Figure, base: Figure): string => `${(value.ns / base.ns).toFixed(2)}×`

/** The section: machine line, then the registration, pool and footprint tables. */
export const microSection = (latest: LatestResults): string =>
  [
    "## Registration and buffer pool (`bench/results/latest.json`)\n",
    `Machine: ${describeMachine(latest)}. Plan: ${latest.plan.rounds} interleaved rounds of ` +
    `${latest.plan.iterations.toLocaleString("en-US")} operations; µs per operation, median of the rounds.\n`,
    "### Register + deregister one buffer, Linux io_uring\n",
    "(a) Koffi straight onto `io_uring_register`, no Effect; (b) `RegisteredIo.withBuffer`; (c) " +
    "`Effect.scoped(registerBuffer)`. Floors: `Effect.onExit` around a no-op, and `Effect.scoped(Effect.void)`.\n",
    markdownTable(
      ["size", "(a) direct", "(b) withBuffer", "(c) scoped", "(b)/(a)", "(c)/(a)", "onExit floor", "scoped floor"],
      latest.registration.map((row) => [
        row.size,
        micros(row.direct),
        micros(row.withBuffer),
        micros(row.scoped),
        ratio(row.withBuffer, row.direct),
        ratio(row.scoped, row.direct),
        micros(row.floor),
        micros(row.scopedFloor)
      ]),
      [1, 2, 3, 4, 5, 6, 7]
    ),
    "### BufferPool, 512-byte buffers: one lease and release\n",
    markdownTable(
      [
        "backend",
        "onExit floor",
        "withLease",
        "scoped lease",
        "tryWithLease",
        "withBuffer",
        "withLease/floor",
        "withBuffer/withLease"
      ],
      latest.pool.map((row) => [
        row.backend,
        micros(row.floor),
        micros(row.withLease),
        micros(row.scopedLease),
        micros(row.tryWithLease),
        micros(row.withBuffer),
        ratio(row.withLease, row.floor),
        ratio(row.withBuffer, row.withLease)
      ]),
      [1, 2, 3, 4, 5, 6, 7]
    ),
    "### Locked pages for 1,000 buffers of 512 bytes\n",
    markdownTable(
      ["backend", "page size", "one BufferPool", "1,000 separate registrations"],
      latest.footprint.map((row) => [
        row.backend,
        String(row.pageSize),
        String(row.pooledPages),
        String(row.separatePages)
      ]),
      [1, 2, 3]
    )
  ].join("\n")
