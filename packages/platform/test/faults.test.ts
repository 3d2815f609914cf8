/**
 * Faults at the `Socket` / `SocketServer` level: a client that vanishes mid-message (with a
 * FIN or an RST), a handler that fails, a shutdown while a handler writes, a write still in
 * flight when `run` ends. Where NodeSocketServer behaves one way, RioSocketServer must too
 * (the first suite runs against both); where they differ by design, the second suite says
 * why. After each, no lease, registration or operation stays open.
 */
import type { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { concat, message, node, nothingHeld, portOf, registeredBuffers, rio, text } from "./helpers.js"
import type { Peer, PeerFactory } from "./peers.js"
import { netPeers, registeredPeers } from "./peers.js"

/** The failure of an exit, or the exit rendered for the assertion message. */
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

/** A frame: a 4-byte big-endian length, then the body. */
const frame = (body: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + body.length)
  new DataView(out.buffer).setUint32(0, body.length)
  out.set(body, 4)
  return out
}

/** What a framed handler saw: the whole frames, the bytes of an unfinished one, and how its run ended. */
interface Framed {
  readonly frames: ReadonlyArray<Uint8Array>
  readonly partial: number
  readonly exit: Exit.Exit<void, Socket.SocketError>
}

/** A handler that reassembles frames, signals the first, and reports the end of its run. */
const framedHandler = (first: Deferred.Deferred<void>, outcome: Deferred.Deferred<Framed>) => (socket: Socket.Socket) =>
  Effect.gen(function*() {
    const frames: Array<Uint8Array> = []
    let pending: Uint8Array = new Uint8Array(0)
    const exit = yield* Effect.exit(socket.run((chunk) => {
      pending = concat([pending, chunk])
      while (pending.length >= 4) {
        const length = new DataView(pending.buffer, pending.byteOffset).getUint32(0)
        if (pending.length < 4 + length) break
        frames.push(pending.slice(4, 4 + length))
        pending = pending.subarray(4 + length)
        Deferred.unsafeDone(first, Effect.void)
      }
    }))
    Deferred.unsafeDone(outcome, Effect.succeed({ frames, partial: pending.length, exit }))
  })

class Boom extends Data.TaggedError("Boom") {}

interface ServerRow {
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown>
  readonly server: Effect.Effect<
    SocketServer.SocketServer["Type"],
    SocketServer.SocketServerError,
    RegisteredIo.RegisteredIo | Scope.Scope
  >
  readonly peers: PeerFactory
}

const backends: ReadonlyArray<ServerRow> = [
  { name: "io_uring", layer: KoffiRio.layerLinux(), server: rio.server, peers: netPeers },
  { name: "RioTest double", layer: RioTest.layer(), server: rio.server, peers: registeredPeers }
]

const rows: ReadonlyArray<ServerRow> = [
  // Node needs no RegisteredIo; io_uring is provided only so that every row has one shape.
  { name: "NodeSocketServer (reference)", layer: KoffiRio.layerLinux(), server: node.server, peers: netPeers },
  ...backends.map((backend) => ({ ...backend, name: `RioSocketServer (${backend.name})` }))
]

rows.forEach((row) => {
  describe(row.name, () => {
    layer(row.layer, { excludeTestServices: true })((it) => {
      const first = message(1, 100)
      const second = frame(message(2, 1000))

      /** A client sends one frame and part of the next, then `leave`s; what the handler saw. */
      const midFrame = (leave: (peer: Peer) => Effect.Effect<void>) =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* row.server
          const firstFrame = yield* Deferred.make<void>()
          const outcome = yield* Deferred.make<Framed>()
          yield* Effect.forkScoped(server.run(framedHandler(firstFrame, outcome)))
          const peer = yield* row.peers.connect(portOf(server))
          yield* peer.write(concat([frame(first), second.subarray(0, 300)]))
          yield* Deferred.await(firstFrame)
          yield* leave(peer)
          return yield* Deferred.await(outcome)
        }))

      it.effect("a client that ends mid-frame (FIN): run ends successfully, the partial frame is left over", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const seen = yield* midFrame((peer) => peer.end)
          assert.isTrue(Exit.isSuccess(seen.exit), "run ends successfully at the peer's end of stream")
          assert.deepStrictEqual(seen.frames, [first])
          assert.strictEqual(seen.partial, 300)
          yield* nothingHeld(start)
        }))

      it.effect("a client that resets mid-frame (RST): run fails with a SocketGenericError \"Read\"", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const seen = yield* midFrame((peer) => peer.reset)
          const error = failureOf(seen.exit)
          assert.isTrue(Socket.isSocketError(error) && error._tag === "SocketError" && error.reason === "Read")
          assert.deepStrictEqual(seen.frames, [first])
          yield* nothingHeld(start)
        }))

      it.effect("a handler that fails: its connection closes, the failure is logged as unhandled, the server goes on", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const logged: Array<string> = []
          const logger = Logger.make(({ cause, message }) => {
            logged.push(`${String(message)} ${Cause.pretty(cause)}`)
          })
          yield* Effect.scoped(Effect.gen(function*() {
            const server = yield* row.server
            const failed = yield* Deferred.make<Exit.Exit<void, Boom | Socket.SocketError>>()
            const handler = (socket: Socket.Socket) =>
              Effect.scoped(Effect.gen(function*() {
                const write = yield* socket.writer
                yield* socket.run((chunk): Effect.Effect<void, Boom | Socket.SocketError> =>
                  text(chunk) === "boom" ? Effect.fail(new Boom()) : write(chunk)
                )
              })).pipe(Effect.onExit((exit) => Exit.isFailure(exit) ? Deferred.succeed(failed, exit) : Effect.void))
            yield* server.run(handler).pipe(
              Effect.withUnhandledErrorLogLevel(Option.some(LogLevel.Error)),
              Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
              Effect.forkScoped
            )
            const doomed = yield* row.peers.connect(portOf(server))
            yield* doomed.write(new TextEncoder().encode("boom"))
            assert.strictEqual(failureOf(yield* Deferred.await(failed))._tag, "Boom")
            // The server closed the connection: the client sees the end of the stream, nothing else.
            assert.strictEqual((yield* doomed.readToEnd).length, 0)
            const next = yield* row.peers.connect(portOf(server))
            yield* next.write(new TextEncoder().encode("ping"))
            yield* next.readAtLeast(4)
            yield* next.end
          }))
          assert.isTrue(
            logged.some((line) => line.includes("Unhandled error in SocketServer") && line.includes("Boom")),
            logged.join("\n")
          )
          yield* nothingHeld(start)
        }))
    })
  })
})

/** Larger than the loopback socket buffers of both ends together: a peer that stops reading keeps it in flight. */
const payload = new Uint8Array(64 * 1024 * 1024)
for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >>> 16)) & 0xff

backends.forEach((backend) => {
  describe(`RioSocket (${backend.name}): what differs from Node by design`, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      // NodeSocketServer's shutdown ends each connection with destroySoon: it keeps flushing what
      // a handler wrote, and waits as long as the peer does not read. RioSocketServer's shutdown
      // closes the connections: a send in flight is aborted, the peer gets what was sent, then
      // the end of the stream.
      it.effect("a shutdown while a handler writes: the handler is interrupted, the peer sees a prefix then its end", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          const warned: Array<unknown> = []
          const warnings = Logger.make(({ logLevel, message }) => {
            if (LogLevel.greaterThanEqual(logLevel, LogLevel.Warning)) warned.push(message)
          })
          yield* Effect.scoped(Effect.gen(function*() {
            const serverScope = yield* Scope.make()
            const server = yield* Scope.extend(backend.server, serverScope)
            const handled = yield* Deferred.make<Exit.Exit<void, Socket.SocketError>>()
            const handler = (socket: Socket.Socket) =>
              Effect.scoped(Effect.gen(function*() {
                const write = yield* socket.writer
                yield* Effect.forkScoped(socket.run(() => {}))
                yield* write(payload)
              })).pipe(Effect.onExit((exit) => Deferred.succeed(handled, exit)))
            yield* Effect.forkIn(server.run(handler), serverScope)
            const peer = yield* backend.peers.connect(portOf(server))
            yield* peer.readAtLeast(1)
            yield* Scope.close(serverScope, Exit.void)
            const handledExit = yield* Deferred.await(handled)
            assert.isTrue(Exit.isInterrupted(handledExit), String(handledExit))
            const received = yield* peer.readToEnd
            assert.isTrue(received.length > 0 && received.length < payload.length, `${received.length} bytes arrived`)
            assert.isTrue(Buffer.compare(received, payload.subarray(0, received.length)) === 0, "not a prefix")
          })).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, warnings)))
          assert.deepStrictEqual(warned, [], "a shutdown the server was asked for is no news")
          yield* nothingHeld(start)
        }))

      // NodeSocket ends a connection with destroySoon too: a write in flight waits for the peer.
      // RioSocket closes it, so the write cannot complete: it fails rather than wait forever.
      it.effect("a write in flight when run ends fails with a SocketGenericError \"Write\"", () =>
        Effect.gen(function*() {
          const start = yield* registeredBuffers
          yield* Effect.scoped(Effect.gen(function*() {
            const { accept, port } = yield* backend.peers.listen
            const socket = yield* rio.client(port)
            const write = yield* socket.writer
            const running = yield* Effect.fork(socket.run(() => {}))
            const writing = yield* Effect.fork(write(payload))
            const peer = yield* accept
            yield* peer.readAtLeast(1)
            yield* Fiber.interrupt(running)
            const error = failureOf(yield* Fiber.await(writing))
            assert.isTrue(error._tag === "SocketError" && error.reason === "Write", String(error))
          }))
          yield* nothingHeld(start)
        }))
    })
  })
})
