/**
 * A program outside the workspace, as a user writes it against the installed tarballs: it
 * type-checks with `tsc --strict` and runs on the backend EFFECT_RIO_BACKEND names (the real
 * one by default, or `test`). It prints one line of JSON and exits 0 only if every step held.
 */
import type { RioBuf } from "@effect-rio/core"
import { BufferPool, RegisteredIo, RegisteredSocket, RioError } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioSocket, RioSocketServer } from "@effect-rio/platform"
import { RioTest } from "@effect-rio/testing"
import type { Layer } from "effect"
import { Deferred, Effect } from "effect"

const program = Effect.scoped(Effect.gen(function*() {
  const io = yield* RegisteredIo.RegisteredIo
  const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(4096))
  const slice: RioBuf.RioBuf = yield* registration.slice(0, 100)
  const refused = yield* Effect.flip(registration.slice(4000, 200))
  const pool = yield* BufferPool.make({ slotSize: 1024, slots: 8 })

  // UDP: 100 datagrams echoed between two sockets of this backend.
  const server = yield* RegisteredSocket.udp()
  const client = yield* RegisteredSocket.udp()
  yield* Effect.forkScoped(
    pool.withLease((lease) =>
      Effect.forever(
        Effect.flatMap(server.receiveFrom(lease.buf), ({ address, length }) =>
          server.sendTo({ ...lease.buf, length }, address))
      )
    )
  )
  let echoed = 0
  yield* pool.withLease((lease) =>
    Effect.gen(function*() {
      for (let i = 0; i < 100; i++) {
        lease.bytes.fill(i, 0, 64)
        yield* client.sendTo({ ...lease.buf, length: 64 }, server.address)
        lease.bytes.fill(0, 0, 64)
        const datagram = yield* client.receiveFrom(lease.buf)
        if (datagram.length === 64 && lease.bytes.subarray(0, 64).every((byte) => byte === i)) echoed++
      }
    })
  )

  // TCP: one message there and back, then nothing listening is a typed error.
  const listener = yield* RegisteredSocket.listen({ port: 0 })
  yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
    const stream = yield* listener.accept
    yield* pool.withLease((lease) =>
      Effect.flatMap(stream.receive(lease.buf), (n) => stream.sendAll({ ...lease.buf, length: n }))
    )
  })))
  const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
  const tcp = yield* pool.withLease((lease) =>
    Effect.gen(function*() {
      lease.bytes.set(new TextEncoder().encode("over tcp"))
      yield* stream.sendAll({ ...lease.buf, length: 8 })
      let got = 0
      while (got < 8) got += yield* stream.receive({ ...lease.buf, offset: lease.buf.offset + got, length: 8 - got })
      return new TextDecoder().decode(lease.bytes.subarray(0, 8))
    })
  )
  // @effect/platform's Socket and SocketServer on registered I/O: one message echoed.
  const platformServer = yield* RioSocketServer.make({ port: 0 })
  yield* Effect.forkScoped(
    platformServer.run((socket) =>
      Effect.scoped(Effect.flatMap(socket.writer, (write) => socket.run((chunk) => write(chunk))))
    )
  )
  const port = platformServer.address._tag === "TcpAddress" ? platformServer.address.port : 0
  const platformSocket = yield* RioSocket.makeTcp({ host: "127.0.0.1", port })
  const echoedBack = yield* Deferred.make<string>()
  yield* Effect.forkScoped(platformSocket.run((chunk) => Deferred.succeed(echoedBack, new TextDecoder().decode(chunk))))
  yield* Effect.scoped(Effect.flatMap(platformSocket.writer, (write) => write("via @effect/platform")))
  const platform = yield* Deferred.await(echoedBack)

  const closedPort = yield* Effect.scoped(Effect.map(RegisteredSocket.listen({ port: 0 }), (l) => l.address.port))
  const connectError = yield* Effect.flip(
    Effect.scoped(RegisteredSocket.connect({ host: "127.0.0.1", port: closedPort }))
  )

  return {
    backend: io.backend,
    slice: { ...slice },
    refused: refused._tag,
    echoed,
    tcp,
    connectError: connectError._tag,
    platform,
    codes: RioError.Codes.WSAECONNREFUSED
  }
}))

const layer: Layer.Layer<RegisteredIo.RegisteredIo, unknown> = KoffiRio.layerConfig({ test: RioTest.layer() })

Effect.runPromise(Effect.provide(program, layer)).then(
  async (result) => {
    // What is internal stays internal: the package exports no internal/ path.
    const internal = await import("@effect-rio/core/internal/service" as string).then(() => "exposed", () => "hidden")
    const ok = result.slice.length === 100 && result.refused === "WSAEINVAL" && result.echoed === 100 &&
      result.tcp === "over tcp" && result.connectError === "WSAECONNREFUSED" &&
      result.platform === "via @effect/platform" && internal === "hidden"
    console.log(JSON.stringify({ ...result, internal, ok }))
    process.exitCode = ok ? 0 : 1
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
