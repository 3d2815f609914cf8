/**
 * examples/src/cluster-entities.ts as its README entry runs it: a private PostgreSQL, two runner
 * processes and a client process that increments ten counters once a second. Every answer is
 * checked; then one runner is stopped as a user stops it (Ctrl-C), and a second client run finds
 * its counters on the other runner, starting again from 0, while the other runner's counters
 * kept counting.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import { freePorts } from "./ports.js"
import { skipWithoutPostgres, startPostgres, titleNeedingPostgres } from "./postgres.js"
import type { Started } from "./processes.js"
import { runToEnd, startUntil } from "./processes.js"

const example = fileURLToPath(new URL("../../../examples/src/cluster-entities.ts", import.meta.url))
const ROUNDS = 3

/** `round N: counter-0=T@P …` lines: per round, each counter's total and the port of its runner. */
const parseRounds = (stdout: string) =>
  stdout.split("\n").filter((line) => line.startsWith("round ")).map((line) =>
    new Map(
      line.slice(line.indexOf(":") + 2).split(" ").map((answer) => {
        const [, id, total, runner] = /^(counter-\d+)=(\d+)@(\d+)$/.exec(answer)!
        return [id!, { total: Number(total), runner: Number(runner) }] as const
      })
    )
  )

describe("examples/src/cluster-entities.ts", () => {
  it.live.skipIf(skipWithoutPostgres)(
    titleNeedingPostgres(
      "two runners and a client over PostgreSQL; a runner stopped with Ctrl-C: its counters move and restart"
    ),
    () =>
      Effect.scoped(Effect.gen(function*() {
        const pg = yield* startPostgres
        const url = `postgres://postgres@127.0.0.1:${pg.port}/postgres`
        const ports = yield* freePorts(2)
        // One after the other, as @effect/cluster's SQL storage creates its tables at start-up.
        const runners = new Map<number, Started>()
        for (const port of ports) {
          runners.set(
            port,
            yield* startUntil(example, ["runner", "--port", String(port), "--postgres", url], `runner ${port} ready`)
          )
        }

        const first = yield* runToEnd(example, ["client", "--postgres", url, "--rounds", String(ROUNDS)])
        assert.strictEqual(first.code, 0, first.stderr)
        const before = parseRounds(first.stdout)
        assert.strictEqual(before.length, ROUNDS)
        before.forEach((round, i) => {
          assert.strictEqual(round.size, 10)
          for (const [id, { runner, total }] of round) {
            assert.strictEqual(total, i + 1, id)
            assert.include(ports, runner, id)
          }
        })
        const heldAtFirst = before[ROUNDS - 1]!

        // The runner that holds counter-0 is stopped, so that some counter surely moves.
        const stopped = heldAtFirst.get("counter-0")!.runner
        const kept = ports.find((port) => port !== stopped)!
        runners.get(stopped)!.kill("SIGINT")
        const after = yield* runToEnd(example, ["client", "--postgres", url, "--rounds", String(ROUNDS)])
        assert.strictEqual(after.code, 0, after.stderr)
        parseRounds(after.stdout).forEach((round, i) => {
          for (const [id, { runner, total }] of round) {
            assert.strictEqual(runner, kept, `${id} is on the runner that is left`)
            const keptCounting = heldAtFirst.get(id)!.runner === kept
            assert.strictEqual(total, keptCounting ? ROUNDS + i + 1 : i + 1, id)
          }
        })
      })),
    120_000
  )
})
