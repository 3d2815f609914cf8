/**
 * bench/net: TCP echo on `RegisteredSocket`'s callback pair, `tcp-each-echo.mjs <port>`: each
 * stream's chunks come to `receiveEach` as they arrive, are copied into the stream's send
 * buffer and leave with `unsafeSendMany` — no Effect, fiber or batch per message, one Effect
 * per stream for its whole life. While a send is in flight, what arrives is appended to the
 * other half of the buffer and leaves when the send completes. On `KoffiRio.layer`. Prints
 * "listening <port>" when bound.
 *
 * A bench server, not a general one: a peer that sends more than a half (64 KiB) while the
 * echo of what came before is still in flight ends its stream with an error rather than
 * wait (receiveEach has no backpressure of its own).
 *
 * `--workers N`: N worker processes (node:cluster) on one port by `reusePort`, each with its
 * own ring — the multi-core design of examples/src/cluster.ts — and this process their primary.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Cluster from "node:cluster"

const HALF = 64 * 1024

const port = Number(process.argv[2] ?? 0)
const workersAt = process.argv.indexOf("--workers")
const workers = workersAt < 0 ? 0 : Number(process.argv[workersAt + 1])
if (!Number.isInteger(port) || port < 0 || !Number.isInteger(workers) || workers < 0) {
  console.error("usage: tcp-each-echo.mjs <port> [--no-metrics] [--workers N]")
  process.exit(2)
}

/** Echoes one stream until its peer's end, then ends ours. */
const echo = (stream: RegisteredSocket.TcpStream) =>
  Effect.gen(function*() {
    const out = yield* RegisteredIo.allocateBuffer(2 * HALF)
    let half = 0
    let filled = 0
    let sending = false
    let failure: RegisteredSocket.SocketError | Error | undefined
    // Told when the last send completed, so that the end of ours follows every echoed byte.
    let onIdle: (() => void) | undefined
    const flush = (): void => {
      if (sending || filled === 0 || failure !== undefined) return
      sending = true
      const buf = out.unsafeSlice(half * HALF, filled) as RioBuf.RioBuf
      half ^= 1
      filled = 0
      stream.unsafeSendMany([buf], sent)
    }
    const sent = (error: RegisteredSocket.SocketError | undefined): void => {
      sending = false
      if (error !== undefined) failure = error
      else flush()
      if (!sending && onIdle !== undefined) onIdle()
    }
    yield* stream.receiveEach((bytes) => {
      if (filled + bytes.length > HALF) throw new Error("the peer sent more than 64 KiB ahead of its echo")
      out.bytes.set(bytes, half * HALF + filled)
      filled += bytes.length
      flush()
    })
    yield* Effect.async<void>((resume) => {
      onIdle = () => resume(Effect.void)
      if (!sending) onIdle()
    })
    if (failure !== undefined) return yield* Effect.fail(failure)
    yield* stream.shutdown("write")
  })

/** With `--workers N`: this process's part as one of N workers on one port, or as their primary. */
const worker = Cluster.default.isWorker

const program = Effect.scoped(Effect.gen(function*() {
  const listener = yield* RegisteredSocket.listen({
    host: "127.0.0.1",
    port: worker ? Number(process.env.EFFECT_RIO_PORT) : port,
    reusePort: worker
  })
  if (worker) process.send!({ ready: listener.address.port })
  else console.log(`listening ${listener.address.port}`)
  return yield* Effect.forever(Effect.gen(function*() {
    const connection = yield* Scope.make()
    const stream = yield* Scope.extend(listener.accept, connection)
    yield* Effect.forkScoped(
      Scope.extend(echo(stream), connection).pipe(Effect.ignore, Effect.ensuring(Scope.close(connection, Exit.void)))
    )
  }))
})).pipe(
  // `--no-metrics`: the same server with the library's metrics off, for the bench's on/off pair.
  Effect.provide(process.argv.includes("--no-metrics") ? RegisteredIo.withoutMetrics(KoffiRio.layer) : KoffiRio.layer)
)

/** The primary: the first worker picks the port, the others join it; "listening" once all are up. */
const primary = async () => {
  const start = (at: number) =>
    new Promise<number>((resolve, reject) => {
      const child = Cluster.default.fork({ EFFECT_RIO_PORT: String(at) })
      child.once("message", (message: { readonly ready: number }) => resolve(message.ready))
      child.once("exit", (code) => reject(new Error(`a worker exited with ${code}`)))
    })
  const first = await start(port)
  for (let i = 1; i < workers; i++) await start(first)
  console.log(`listening ${first}`)
}

const finish = (exit: Exit.Exit<unknown, unknown>): void => {
  if (Exit.isFailure(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exitCode = 1
  }
}

if (workers > 0 && Cluster.default.isPrimary) {
  primary().catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else {
  Effect.runPromiseExit(program).then(finish)
}
