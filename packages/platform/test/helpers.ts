/**
 * The implementations under test (NodeSocket as the reference, RioSocket on io_uring and on
 * the double) and small helpers shared by the suites.
 */
import { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { assert } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { RioSocket, RioSocketServer } from "../src/index.js"

export interface Impl {
  readonly name: string
  /** What the tests run in; the double's network joins only sockets of one layer instance. */
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown>
  readonly client: (port: number) => Effect.Effect<Socket.Socket, Socket.SocketError, RegisteredIo.RegisteredIo>
  readonly server: Effect.Effect<
    SocketServer.SocketServer["Type"],
    SocketServer.SocketServerError,
    RegisteredIo.RegisteredIo | Scope.Scope
  >
}

export const node = {
  client: (port: number) => NodeSocket.makeNet({ host: "127.0.0.1", port }),
  server: NodeSocketServer.make({ host: "127.0.0.1", port: 0 })
}

export const rio = {
  client: (port: number) => RioSocket.makeTcp({ host: "127.0.0.1", port }),
  server: RioSocketServer.make({ port: 0 })
}

export const impls: ReadonlyArray<Impl> = [
  // Node needs no RegisteredIo; io_uring is provided only so that every suite has one shape.
  { name: "NodeSocket", layer: KoffiRio.layerLinux(), ...node },
  { name: "RioSocket (io_uring)", layer: KoffiRio.layerLinux(), ...rio },
  { name: "RioSocket (RioTest double)", layer: RioTest.layer(), ...rio }
]

export const portOf = (server: SocketServer.SocketServer["Type"]): number => {
  if (server.address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return server.address.port
}

/** Writes back whatever arrives, until the peer's end of stream. */
export const echo = (socket: Socket.Socket) =>
  Effect.scoped(Effect.gen(function*() {
    const write = yield* socket.writer
    yield* socket.run((chunk) => write(chunk))
  }))

/** Deterministic bytes of message `id`, of a size in [1, max]. */
export const message = (id: number, max: number): Uint8Array => {
  const size = 1 + ((id * 7919 + 13) % 104729) % max
  const bytes = new Uint8Array(size)
  let x = (id * 2654435761) >>> 0
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const chunk of chunks) length += chunk.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/** A receiver that collects chunks and signals when `expected` bytes have arrived. */
export const collector = (expected: number) =>
  Effect.map(Deferred.make<void>(), (complete) => {
    const chunks: Array<Uint8Array> = []
    let received = 0
    return {
      chunks,
      complete,
      received: () => received,
      onChunk: (chunk: Uint8Array): void => {
        chunks.push(chunk)
        received += chunk.length
        if (received >= expected) Deferred.unsafeDone(complete, Effect.void)
      }
    }
  })

export const registeredBuffers = Effect.flatMap(RegisteredIo.RegisteredIo, (io) => io.stats).pipe(
  Effect.map((stats) => stats.registeredBuffers)
)

/** Everything given back: registrations as at `start`; on the double, no operation pending and no violation. */
export const nothingHeld = (start: number) =>
  Effect.gen(function*() {
    assert.strictEqual(yield* registeredBuffers, start)
    const control = yield* Effect.serviceOption(RioTest.Control)
    if (Option.isSome(control)) {
      assert.strictEqual(yield* control.value.outstandingOperations, 0)
      assert.deepStrictEqual(yield* control.value.violations, [])
    }
  })

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
