/**
 * UDP echo on registered I/O: every datagram is received into, and sent from, a slot of one
 * registered BufferPool (RIOReceiveEx / RIOSendEx), with 64 receives always outstanding.
 *
 *   node --import tsx examples/src/udp-echo.ts server --port 7007
 *   node --import tsx examples/src/udp-echo.ts client --port 7007 --count 1000
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/udp-echo.ts both
 */
import { BufferPool, RegisteredSocket, RioError } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { Command } from "./echoCli.js"
import { main } from "./echoCli.js"

const RECEIVERS = 64

/**
 * Echoes forever: each of RECEIVERS fibers keeps one receive outstanding in its own slot. A
 * datagram larger than a slot is logged and dropped (WSAEMSGSIZE): one sender's mistake must
 * not end the server for everyone.
 */
const server = (pool: BufferPool.BufferPool, socket: RegisteredSocket.UdpSocket) =>
  Effect.all(
    Array.from({ length: RECEIVERS }, () =>
      pool.withLease((lease) =>
        Effect.forever(
          Effect.flatMap(socket.receiveFrom(lease.buf), ({ address, length }) =>
            socket.sendTo({ ...lease.buf, length }, address)).pipe(
              Effect.catchTag("WSAEMSGSIZE", (error) =>
                Effect.logWarning(`dropped a datagram: ${error.message}`))
            )
        )
      )),
    { concurrency: "unbounded", discard: true }
  )

/** How long the client waits for each echo before it gives up: UDP tells it nothing when nobody listens. */
const REPLY_TIMEOUT = "2 seconds"

/** Sends `count` numbered datagrams one at a time and checks each echo. */
const client = (pool: BufferPool.BufferPool, port: number, host: string, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const socket = yield* RegisteredSocket.udp()
    const started = Date.now()
    yield* pool.withLease((lease) =>
      Effect.gen(function*() {
        for (let i = 0; i < count; i++) {
          const text = new TextEncoder().encode(`datagram ${i}`)
          lease.bytes.set(text)
          yield* socket.sendTo({ ...lease.buf, length: text.length }, { host, port })
          lease.bytes.fill(0, 0, text.length)
          const reply = yield* socket.receiveFrom(lease.buf).pipe(
            Effect.timeoutFail({
              duration: REPLY_TIMEOUT,
              onTimeout: () =>
                new RioError.WSAETIMEDOUT({
                  operation: "receiveFrom",
                  message: `no echo of datagram ${i} from ${host}:${port} within ${REPLY_TIMEOUT}: ` +
                    "is the server running there?"
                })
            })
          )
          const echoed = new TextDecoder().decode(lease.bytes.subarray(0, reply.length))
          if (echoed !== `datagram ${i}`) return yield* Effect.dieMessage(`datagram ${i} came back as "${echoed}"`)
        }
      })
    )
    const seconds = (Date.now() - started) / 1000
    yield* Console.log(`${count} datagrams echoed and checked in ${seconds.toFixed(2)} s`)
  }))

const program = ({ count, host, mode, port }: Command) =>
  Effect.scoped(Effect.gen(function*() {
    const pool = yield* BufferPool.make({ slotSize: 2048, slots: RECEIVERS + 1 })
    if (mode === "client") return yield* client(pool, port, host, count)
    const socket = yield* RegisteredSocket.udp({ host, port })
    yield* Console.log(`listening ${socket.address.port}`)
    if (mode === "server") return yield* server(pool, socket)
    yield* Effect.forkScoped(server(pool, socket))
    yield* client(pool, socket.address.port, host, count)
  }))

main("udp-echo", program)
