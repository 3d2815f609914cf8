/**
 * Peers that stop reading what a RioSocketServer writes to them hold none of its send slots:
 * a send that finds the peer full gives its slot back and the connection waits for room
 * without one, so the other connections keep writing; nothing written is lost or reordered.
 */
import { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import type * as Socket from "@effect/platform/Socket"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { RioSocketServer } from "../src/index.js"
import type { Client, Connect } from "./clients.js"
import { echoed, netClient, pattern, patternAt, registeredClients, within } from "./clients.js"
import { echo, message, portOf } from "./helpers.js"

const KiB = 1024
const MiB = 1024 * KiB
/** More than loopback buffers for a peer that reads nothing (its window and our send buffer). */
const FLOOD = 16 * MiB
const PIECE = 64 * KiB
const FLOODED = 3
const REGION = 64 * KiB

const flood = pattern(FLOOD)

/** Writes the flood in pieces beside `run` (writes go while it runs), which lasts until the client's end. */
const flooding = (socket: Socket.Socket, started: Queue.Queue<void>) =>
  Effect.scoped(Effect.gen(function*() {
    const write = yield* socket.writer
    yield* Effect.forkScoped(Effect.gen(function*() {
      yield* Queue.offer(started, undefined)
      for (let at = 0; at < FLOOD; at += PIECE) yield* write(flood.subarray(at, at + PIECE))
    }))
    yield* socket.run(() => {})
  }))

/** Reads the whole flood in 1 MiB pieces, checking every byte's position. */
const readFlood = (client: Client) =>
  Effect.gen(function*() {
    for (let at = 0; at < FLOOD; at += MiB) {
      const bytes = yield* within("a MiB of the flood", client.read(MiB))
      assert.strictEqual(bytes.length, MiB)
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== patternAt(at + i)) assert.fail(`flood byte ${at + i} is ${bytes[i]}, not ${patternAt(at + i)}`)
      }
    }
  })

const backends: ReadonlyArray<{
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown>
  readonly connect: Effect.Effect<Connect, unknown, RegisteredIo.RegisteredIo | Scope.Scope>
}> = [
  { name: "io_uring", layer: KoffiRio.layerLinux(), connect: Effect.succeed(netClient) },
  {
    // The double's network buffers without limit: its sends never find a peer full, so there
    // this shows only that the flood arrives whole beside an echo.
    name: "RioTest double",
    layer: RioTest.layer(),
    connect: Effect.map(
      RegisteredIo.allocateBuffer((FLOODED + 1) * REGION),
      (memory) => registeredClients(memory, REGION)
    )
  }
]

backends.forEach((backend) => {
  describe(backend.name, () => {
    layer(backend.layer, { excludeTestServices: true })((it) => {
      it.scoped(
        "3 clients that read nothing, 2 send slots: another client still echoes; each flood then arrives whole",
        () =>
          Effect.gen(function*() {
            const connect = yield* backend.connect
            const server = yield* RioSocketServer.make({ port: 0, sendSlots: 2 })
            const started = yield* Queue.unbounded<void>()
            let handlers = 0
            yield* Effect.forkScoped(
              server.run((socket) => handlers++ < FLOODED ? flooding(socket, started) : echo(socket))
            )
            const port = portOf(server)
            const flooded: Array<Client> = []
            for (let i = 0; i < FLOODED; i++) {
              flooded.push(yield* connect(port))
              yield* within("a flood's start", Queue.take(started))
            }
            // Long enough for every flood to fill its peer: with sends that wait for room, they
            // would now hold both slots, and the echo below would never get one.
            yield* Effect.sleep("200 millis")
            const other = yield* connect(port)
            for (let i = 0; i < 20; i++) yield* echoed(other, message(i, 2000))
            yield* Effect.forEach(flooded, readFlood, { concurrency: "unbounded", discard: true })
            yield* echoed(other, message(20, 2000))
          }),
        60_000
      )
    })
  })
})
