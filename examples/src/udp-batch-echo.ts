/**
 * UDP echo in batches: the server takes every datagram that has arrived from its socket's
 * receive ring in one call (`withReceived`) and sends them all back in one call (`sendMany`)
 * — one Effect per batch, nothing allocated per datagram by the library. The client sends
 * batches of 16 numbered datagrams and checks every echo.
 *
 *   node --import tsx examples/src/udp-batch-echo.ts server --port 7010
 *   node --import tsx examples/src/udp-batch-echo.ts client --port 7010 --count 1000
 *   EFFECT_RIO_BACKEND=test node --import tsx examples/src/udp-batch-echo.ts both
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type { Command } from "./echoCli.js"
import { main } from "./echoCli.js"

const BATCH = 16
const SLOT = 64

/** Echoes forever: each batch of received datagrams goes back to its senders in one sendMany. */
const server = (socket: RegisteredSocket.UdpSocket) =>
  Effect.forever(socket.withReceived((datagrams) => {
    const replies: Array<RegisteredSocket.OutgoingDatagram> = []
    for (const datagram of datagrams) replies.push({ buf: datagram.buf, to: datagram.address })
    return socket.sendMany(replies)
  }))

/** Sends `count` numbered datagrams in batches and checks that every one comes back intact. */
const client = (port: number, host: string, count: number) =>
  Effect.scoped(Effect.gen(function*() {
    const socket = yield* RegisteredSocket.udp()
    const outbox = yield* RegisteredIo.allocateBuffer(BATCH * SLOT)
    const encoder = new TextEncoder()
    const decoder = new TextDecoder()
    const started = Date.now()
    for (let first = 0; first < count; first += BATCH) {
      const waiting = new Set<string>()
      const datagrams: Array<RegisteredSocket.OutgoingDatagram> = []
      for (let i = first; i < Math.min(first + BATCH, count); i++) {
        const text = `datagram ${i}`
        const at = (i - first) * SLOT
        const { written } = encoder.encodeInto(text, outbox.bytes.subarray(at, at + SLOT))
        datagrams.push({ buf: yield* outbox.slice(at, written), to: { host, port } })
        waiting.add(text)
      }
      yield* socket.sendMany(datagrams)
      while (waiting.size > 0) {
        yield* socket.withReceived((replies) =>
          Effect.forEach(replies, (reply) => {
            const text = decoder.decode(reply.bytes)
            return waiting.delete(text) ? Effect.void : Effect.dieMessage(`unexpected echo "${text}"`)
          }, { discard: true })
        ).pipe(
          Effect.timeoutFail({
            duration: "2 seconds",
            onTimeout: () => new Error(`no echo for ${[...waiting].join(", ")} within 2 s`)
          })
        )
      }
    }
    const seconds = (Date.now() - started) / 1000
    const ring = yield* socket.receiveRing
    yield* Console.log(`${count} datagrams echoed and checked in ${seconds.toFixed(2)} s (${ring?.mechanism})`)
  }))

const program = ({ count, host, mode, port }: Command) =>
  Effect.scoped(Effect.gen(function*() {
    if (mode === "client") return yield* client(port, host, count)
    const socket = yield* RegisteredSocket.udp({ host, port })
    yield* Console.log(`listening ${socket.address.port}`)
    if (mode === "server") return yield* server(socket)
    yield* Effect.forkScoped(server(socket))
    yield* client(socket.address.port, host, count)
  }))

main("udp-batch-echo", program)
