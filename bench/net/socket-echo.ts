/**
 * bench/net: an `@effect/platform` `SocketServer` echo, `socket-echo.mjs <rio|node> <port>`:
 * one handler, on RioSocketServer (registered I/O, `KoffiRio.layer`) or on NodeSocketServer —
 * the swap a user would make. Prints "listening <port>" when it accepts.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { RioSocketServer } from "@effect-rio/platform"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

/** Writes back whatever arrives, until the peer's end of stream. */
const echo = (socket: Socket.Socket) => Effect.scoped(Effect.flatMap(socket.writer, (write) => socket.run(write)))

const [which, portArgument] = process.argv.slice(2)
const port = Number(portArgument ?? 0)
if (which !== "rio" && which !== "node") {
  console.error("usage: socket-echo.mjs <rio|node> <port>")
  process.exit(2)
}

const server: Layer.Layer<SocketServer.SocketServer, unknown> = which === "rio"
  ? RioSocketServer.layer({ port }).pipe(Layer.provide(KoffiRio.layer))
  : NodeSocketServer.layer({ host: "127.0.0.1", port })

const program = Effect.gen(function*() {
  const socketServer = yield* SocketServer.SocketServer
  const address = socketServer.address
  console.log(`listening ${address._tag === "TcpAddress" ? address.port : port}`)
  return yield* socketServer.run(echo)
}).pipe(Effect.provide(server))

Effect.runPromiseExit(program).then((exit) => {
  if (Exit.isFailure(exit)) {
    console.error(Cause.pretty(exit.cause))
    process.exitCode = 1
  }
})
