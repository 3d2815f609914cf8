/**
 * One port, every core: N worker processes (Node's `cluster`), each with its own ring and its
 * own registered memory, all listening on the same TCP and UDP port with `reusePort` — the
 * kernel spreads connections and datagrams among them, as Node's cluster does for `node:net`.
 *
 *   node --import tsx examples/src/cluster.ts --workers 2 --port 7030
 *
 * The primary starts the first worker (which picks the port when `--port 0`), then the others
 * on that port, and prints `listening <port> with <n> workers` once all are ready. Each worker
 * echoes TCP streams and UDP datagrams in batches (`withReceived` + `sendMany`) and prints
 * `worker <i> accepted <client port>` per connection. Ctrl-C stops them all. Linux only: Windows has no SO_REUSEPORT (the workers fail
 * with WSAENOPROTOOPT), and the in-memory double's network lives inside one process.
 */
import { RegisteredSocket } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Cluster from "node:cluster"
import { acceptEach, streamEcho, udpEcho } from "./echoServers.js"
import { runMain } from "./main.js"

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name)
  const value = at < 0 ? fallback : Number(process.argv[at + 1])
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} needs a non-negative integer`)
  return value
}

/** A worker: TCP and UDP echo on `port`, shared with the other workers. */
const worker = (index: number, port: number) =>
  Effect.scoped(Effect.gen(function*() {
    const listener = yield* RegisteredSocket.listen({ host: "127.0.0.1", port, reusePort: true })
    const udp = yield* RegisteredSocket.udp({ host: "127.0.0.1", port: listener.address.port, reusePort: true })
    yield* Effect.forkScoped(udpEcho(udp))
    process.send?.({ ready: listener.address.port })
    yield* acceptEach(listener, yield* Effect.scope, (stream) =>
      Effect.zipRight(Console.log(`worker ${index} accepted ${stream.remoteAddress.port}`), streamEcho(stream)))
  }))

/** The primary: starts the workers one after the other, so that port 0 is picked once. */
const primary = async (workers: number, asked: number) => {
  const start = (index: number, port: number) =>
    new Promise<number>((resolve, reject) => {
      const child = Cluster.default.fork({ EFFECT_RIO_WORKER: String(index), EFFECT_RIO_PORT: String(port) })
      child.once("message", (message: { readonly ready?: number }) => {
        if (message.ready !== undefined) resolve(message.ready)
      })
      child.once("exit", (code) => reject(new Error(`worker ${index} exited with ${code} before it was ready`)))
    })
  const port = await start(0, asked)
  for (let index = 1; index < workers; index++) await start(index, port)
  console.log(`listening ${port} with ${workers} workers`)
}

if (Cluster.default.isPrimary) {
  const workers = flag("--workers", 2)
  if (workers < 1) throw new Error("--workers needs at least 1")
  primary(workers, flag("--port", 0)).catch((error) => {
    console.error(error instanceof Error ? error.message : error)
    for (const child of Object.values(Cluster.default.workers ?? {})) child?.kill()
    process.exitCode = 1
  })
} else {
  runMain(worker(Number(process.env.EFFECT_RIO_WORKER), Number(process.env.EFFECT_RIO_PORT)))
}
