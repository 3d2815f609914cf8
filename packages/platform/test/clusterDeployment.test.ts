/**
 * Effect Cluster deployed as it runs in production, on one machine: a private PostgreSQL
 * (`@effect/sql-pg` storage), three runner processes each on its own port — two on
 * RioClusterSocket over io_uring, one on NodeClusterSocket — and this process as a client-only
 * member on RioClusterSocket. 10,000 persisted deposits to 1,000 accounts, every reply checked;
 * one Rio runner is killed (SIGKILL) mid-run: its shards move, every deposit is answered once
 * and applied once (a deposit the dead runner had taken is delivered again, at least once, as
 * Effect Cluster documents; the entity applies each message id once), volatile calls end in a
 * reply or an error, none hangs. PostgreSQL unreachable at the
 * start fails the client's layer with an error naming it.
 */
import { KoffiRio } from "@effect-rio/koffi"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { fileURLToPath } from "node:url"
import * as RioClusterSocket from "../src/RioClusterSocket.js"
import { Account, accountTables, deploymentConfig } from "./clusterParts.js"
import { freePorts } from "./ports.js"
import { skipWithoutPostgres, startPostgres, titleNeedingPostgres } from "./postgres.js"
import { startUntil } from "./processes.js"

const runnerScript = fileURLToPath(new URL("./fixtures/cluster-runner.ts", import.meta.url))

const ACCOUNTS = 1000
const DEPOSITS = 10
/** Deposits answered before one runner is killed. */
const KILL_AFTER = 3000

/** A runner process, up once it printed "ready"; stopped (SIGKILL if still there) with the scope. */
const spawnRunner = (transport: "rio" | "node", port: number, pgPort: number) =>
  startUntil(runnerScript, [transport, String(port), String(pgPort)], "ready\n")

const pgLayer = (port: number) =>
  PgClient.layer({ host: "127.0.0.1", port, username: "postgres", database: "postgres", connectTimeout: "5 seconds" })

describe("an Effect Cluster deployment: 3 runner processes, PostgreSQL storage", () => {
  it.live.skipIf(skipWithoutPostgres)(
    titleNeedingPostgres(
      "10,000 persisted deposits over a mixed cluster, one runner killed mid-run: each answered and applied once"
    ),
    () =>
      Effect.scoped(Effect.gen(function*() {
        const pg = yield* startPostgres
        const sqlContext = yield* Layer.build(pgLayer(pg.port))
        yield* Effect.provide(accountTables, sqlContext)
        const ports = yield* freePorts(3)
        // The first runner alone: @effect/cluster's SQL storage makes its tables at start-up
        // (CREATE TABLE IF NOT EXISTS), which PostgreSQL does not make safe against a second
        // such statement at the same moment. Three runners starting at once failed once in CI
        // with "SqlError: Failed to execute statement" before any was ready.
        const first = yield* spawnRunner("rio", ports[0]!, pg.port)
        const others = yield* Effect.all([
          spawnRunner("rio", ports[1]!, pg.port),
          spawnRunner("node", ports[2]!, pg.port)
        ], { concurrency: "unbounded" })
        const runners = [first, ...others]
        const clientContext = yield* Layer.build(
          RioClusterSocket.layer({ clientOnly: true, shardingConfig: deploymentConfig(undefined) }).pipe(
            Layer.provide(Layer.succeedContext(sqlContext)),
            Layer.provide(KoffiRio.layerLinux())
          )
        )
        const client = yield* Effect.provide(Account.client, clientContext)

        let answered = 0
        let volatile: Array<Exit.Exit<number, unknown>> = []
        const killed = Effect.gen(function*() {
          while (answered < KILL_AFTER) yield* Effect.sleep("20 millis")
          runners[0].kill()
          // Volatile calls sent now meet the dead runner's shards before they move.
          volatile = yield* Effect.forEach(
            Array.from({ length: 200 }, (_, i) => `account-${i}`),
            (id) => Effect.exit(client(id).Where().pipe(Effect.timeout("30 seconds"))),
            { concurrency: "unbounded" }
          )
        })
        const deposits = Effect.forEach(Array.from({ length: ACCOUNTS }, (_, i) => `account-${i}`), (id) =>
          Effect.gen(function*() {
            for (let round = 1; round <= DEPOSITS; round++) {
              const reply = yield* client(id).Deposit({ message: `${id}/${round}`, amount: 1 })
              assert.strictEqual(reply.balance, round, `${id}, deposit ${round}`)
              answered++
            }
          }), { concurrency: 100, discard: true })
        yield* Effect.all([deposits, killed], { concurrency: "unbounded", discard: true })

        const sql = yield* Effect.provide(SqlClient.SqlClient, sqlContext)
        const [counts] = yield* sql<{ readonly processed: string; readonly total: string }>`
          SELECT (SELECT count(*) FROM processed) AS processed, (SELECT sum(balance) FROM balances) AS total`
        assert.deepStrictEqual(counts, { processed: "10000", total: "10000" }, "each deposit applied exactly once")
        const byRunner = yield* sql<{ readonly runner: number }>`SELECT DISTINCT runner FROM processed`
        assert.sameMembers(
          byRunner.map((row) =>
            row.runner
          ),
          ports,
          "every runner processed deposits, Node's too"
        )
        // The killed runner's accounts went on elsewhere: later deposits came from another runner.
        const moved = yield* sql<{ readonly account: string }>`
          SELECT DISTINCT p.account FROM processed p
          WHERE p.runner = ${ports[0]!} AND EXISTS (
            SELECT 1 FROM processed q WHERE q.account = p.account AND q.runner <> ${ports[0]!})`
        assert.isAbove(moved.length, 0, "accounts of the killed runner moved")
        // Redelivered: stored messages whose runner died before their reply was stored.
        const [redelivered] = yield* sql<{ readonly count: string }>`
          SELECT count(*) AS count FROM (SELECT message FROM deliveries GROUP BY message HAVING count(*) > 1) d`
        console.log(`cluster deployment: ${moved.length} accounts moved, ${redelivered!.count} deposits redelivered`)
        // Volatile calls: a reply (from a live runner), a typed error, or — where a call's write
        // races the closing of the dead runner's connection — the defect that `@effect/rpc`'s
        // socket client makes of a failed write (`Effect.orDie`; NodeClusterSocket's does the
        // same). None hangs.
        const outcomes = { replied: 0, typed: 0, raced: 0 }
        for (const exit of volatile) {
          if (Exit.isSuccess(exit)) {
            assert.notStrictEqual(exit.value, ports[0])
            outcomes.replied++
          } else if (Option.isSome(Cause.failureOption(exit.cause))) {
            outcomes.typed++
          } else {
            const defect = Cause.squash(exit.cause) as { readonly _tag?: string; readonly reason?: string }
            assert.deepStrictEqual([defect._tag, defect.reason], ["SocketError", "Write"], Cause.pretty(exit.cause))
            outcomes.raced++
          }
        }
        console.log(`cluster deployment: volatile calls after the kill ${JSON.stringify(outcomes)}`)
      })),
    240_000
  )

  it.live.skipIf(skipWithoutPostgres)(
    titleNeedingPostgres("PostgreSQL unreachable at the start fails the layer with an error naming it"),
    () =>
      Effect.gen(function*() {
        const [port] = yield* freePorts(1)
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(
          RioClusterSocket.layer({ clientOnly: true, shardingConfig: deploymentConfig(undefined) }).pipe(
            Layer.provide(pgLayer(port!)),
            Layer.provide(KoffiRio.layerLinux())
          )
        )))
        assert.isTrue(Exit.isFailure(exit))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        assert.isTrue(Option.isSome(failure), "a typed failure, not a defect")
        const error = Option.getOrThrow(failure) as { readonly _tag: string; readonly cause?: unknown }
        assert.strictEqual(error._tag, "SqlError")
        assert.include(String(error.cause), `127.0.0.1:${port}`)
      }),
    30_000
  )
})
