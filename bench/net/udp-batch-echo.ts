/**
 * bench/net: UDP echo on `RegisteredSocket`'s batch API, `udp-batch-echo.mjs <port>`: every
 * datagram that has arrived is received in one call (`withReceived`, from the socket's
 * receive ring) and echoed from the very slot it landed in, all of a batch in one
 * `sendMany`. On `KoffiRio.layer`. Prints "listening <port>" when bound.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const port = Number(process.argv[2] ?? 0)
if (!Number.isInteger(port) || port < 0) {
  console.error("usage: udp-batch-echo.mjs <port>")
  process.exit(2)
}

/** Each datagram's bytes back to its sender: one small array per batch. */
const replies = (
  datagrams: ReadonlyArray<RegisteredSocket.ReceivedDatagram>
): ReadonlyArray<RegisteredSocket.OutgoingDatagram> => {
  const out = new Array<RegisteredSocket.OutgoingDatagram>(datagrams.length)
  for (let i = 0; i < datagrams.length; i++) {
    const datagram = datagrams[i]!
    out[i] = { buf: datagram.buf, to: datagram.address }
  }
  return out
}

const program = Effect.scoped(Effect.gen(function*() {
  const socket = yield* RegisteredSocket.udp({ host: "127.0.0.1", port })
  console.log(`listening ${socket.address.port}`)
  return yield* Effect.forever(socket.withReceived((datagrams) => socket.sendMany(replies(datagrams))))
})).pipe(
  // `--no-metrics`: the same server with the library's metrics off, for the bench's on/off pair.
  Effect.provide(process.argv.includes("--no-metrics") ? RegisteredIo.withoutMetrics(KoffiRio.layer) : KoffiRio.layer)
)

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exitCode = 1
  }
})
