/**
 * Unix domain sockets on io_uring against peers this project did not write, on real paths:
 * `node:net` in both directions (10,000 messages one way, 1 MiB the other), and `socat`'s
 * UNIX-CONNECT. Every byte is checked.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as KoffiRio from "../../src/KoffiRio.js"

type UnixStream = RegisteredSocket.TcpStream<RegisteredSocket.UnixAddress>

/** A directory of its own for the test's socket paths, removed with the scope. */
const directory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-rio-unix-"))),
  (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
)

/** `n` numbered messages of 64 bytes each: message i is i's low byte, repeated. */
const messages = (n: number): Buffer => {
  const bytes = Buffer.alloc(n * 64)
  for (let i = 0; i < n; i++) bytes.fill(i & 0xff, i * 64, i * 64 + 64)
  return bytes
}

/** Echoes what `stream` receives through its ring until the peer's end of stream, then ends its own side. */
const echo = (stream: UnixStream) =>
  Effect.gen(function*() {
    for (;;) {
      const done = yield* stream.withReceived((chunks) =>
        chunks.length === 0 ? Effect.succeed(true) : Effect.as(stream.sendMany(chunks.map((c) => c.buf)), false)
      )
      if (done) return yield* stream.shutdown()
    }
  })

/** Every byte a node:net client sends to `path` and reads back before the end of stream. */
const roundTrip = (path: string, bytes: Buffer) =>
  Effect.async<Buffer, Error>((resume) => {
    const parts: Array<Buffer> = []
    const socket = Net.connect(path, () => socket.end(bytes))
    socket.on("data", (part) => parts.push(part))
    socket.on("end", () => resume(Effect.succeed(Buffer.concat(parts))))
    socket.on("error", (error) => resume(Effect.fail(error)))
  })

const socatMissing = spawnSync("socat", ["-V"]).status !== 0
const socatSkip = socatMissing && process.env.CI === undefined

layer(KoffiRio.layerLinux(), { excludeTestServices: true })(
  "Unix domain sockets on io_uring with foreign peers",
  (it) => {
    it.scoped("ours → node:net's echo server: 10,000 messages of 64 bytes, in order", () =>
      Effect.gen(function*() {
        const path = join(yield* directory, "node.sock")
        yield* Effect.acquireRelease(
          Effect.async<Net.Server>((resume) => {
            const server = Net.createServer((socket) => socket.pipe(socket))
            server.listen(path, () => resume(Effect.succeed(server)))
          }),
          (server) =>
            Effect.async<void>((resume) => {
              server.close(() => resume(Effect.void))
            })
        )
        const client = yield* RegisteredSocket.connect({ path })
        const sent = messages(10_000)
        const receiving = yield* Effect.fork(Effect.gen(function*() {
          const parts: Array<Buffer> = []
          for (;;) {
            const chunks = yield* Effect.scoped(client.receiveMany())
            if (chunks.length === 0) return Buffer.concat(parts)
            for (const chunk of chunks) parts.push(Buffer.from(chunk.bytes))
          }
        }))
        const memory = yield* RegisteredIo.allocateBuffer(sent.length)
        memory.bytes.set(sent)
        yield* client.sendAll(memory.unsafeSlice(0, sent.length) as RioBuf.RioBuf)
        yield* client.shutdown()
        assert.isTrue((yield* Fiber.join(receiving)).equals(sent), "every byte echoed in order")
      }))

    it.scoped("node:net → ours (batch echo from the listener's shared ring): 1 MiB, every byte", () =>
      Effect.gen(function*() {
        const path = join(yield* directory, "ours.sock")
        const listener = yield* RegisteredSocket.listen({ path })
        const echoing = yield* Effect.fork(Effect.scoped(Effect.flatMap(listener.accept, echo)))
        const mebibyte = Buffer.alloc(1 << 20)
        for (let i = 0; i < mebibyte.length; i++) mebibyte[i] = (i * 31) & 0xff
        assert.isTrue((yield* roundTrip(path, mebibyte)).equals(mebibyte), "1 MiB echoed intact")
        yield* Fiber.join(echoing)
      }))

    it.scoped("a path whose directory is missing, and one where nothing listens, are typed in terms of paths", () =>
      Effect.gen(function*() {
        const missing = join(yield* directory, "no-such-directory", "x.sock")
        const listening = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path: missing })))
        assert.strictEqual(listening._tag, "WSAEADDRNOTAVAIL")
        assert.include(listening.message, "directory does not exist")
        const connecting = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ path: missing })))
        assert.strictEqual(connecting._tag, "WSAECONNREFUSED")
      }))

    it.scoped.skipIf(socatSkip)(
      socatSkip
        ? "socat UNIX-CONNECT → ours — skipped: socat is not installed (apt-get install socat)"
        : "socat UNIX-CONNECT → ours: 64 KiB through socat's stdin and back",
      () =>
        Effect.gen(function*() {
          assert.isFalse(socatMissing, "socat is installed (.ci/run installs it)")
          const path = join(yield* directory, "socat.sock")
          const listener = yield* RegisteredSocket.listen({ path })
          const echoing = yield* Effect.fork(Effect.scoped(Effect.flatMap(listener.accept, echo)))
          const payload = Buffer.alloc(64 * 1024)
          for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff
          const echoed = yield* Effect.async<Buffer, Error>((resume) => {
            const socat = spawn("socat", ["-t", "5", "-", `UNIX-CONNECT:${path}`], {
              stdio: ["pipe", "pipe", "inherit"]
            })
            const parts: Array<Buffer> = []
            socat.stdout.on("data", (part: Buffer) => parts.push(part))
            socat.on("error", (error) => resume(Effect.fail(error)))
            socat.on("close", () => resume(Effect.succeed(Buffer.concat(parts))))
            socat.stdin.end(payload)
          })
          assert.isTrue(echoed.equals(payload), "64 KiB echoed through socat")
          yield* Fiber.join(echoing)
        })
    )
  }
)
