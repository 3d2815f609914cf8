/**
 * Unix domain stream sockets on every backend with sockets: `listen({ path })` and
 * `connect({ path })` give streams with the same operations as TCP's. io_uring runs them in
 * the kernel (and talks to node:net peers on the same path); the double simulates them with
 * paths of its own; Winsock RIO refuses them, typed. Against node:net and socat on a real path:
 * packages/koffi/test/linux/unixPeers.test.ts.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describeSocketBackends } from "./describeBackends.js"
import { settledFds } from "./processState.js"

/** A fresh path in a directory of its own, removed with the scope. */
const socketPath = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-rio-unix-"))),
  (directory) => Effect.sync(() => rmSync(directory, { recursive: true, force: true }))
).pipe(Effect.map((directory) => join(directory, "echo.sock")))

/** Winsock RIO has no Unix domain sockets: both calls are `RioUnavailable`. True on that backend. */
const refusedHere = Effect.gen(function*() {
  const io = yield* RegisteredIo.RegisteredIo
  if (io.backend !== "winsock") return false
  const listening = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path: "rio.sock" })))
  const connecting = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ path: "rio.sock" })))
  for (const refused of [listening, connecting]) {
    assert.strictEqual(refused._tag, "RioUnavailable")
    assert.include(refused.message, "no Unix domain sockets")
  }
  return true
})

/** `n` numbered messages of 64 bytes each: message i is i's low byte, repeated. */
const messages = (n: number) => {
  const bytes = new Uint8Array(n * 64)
  for (let i = 0; i < n; i++) bytes.fill(i & 0xff, i * 64, i * 64 + 64)
  return bytes
}

/** Echoes what `stream` receives until its peer's end of stream, one batch at a time. */
const echo = (stream: RegisteredSocket.TcpStream<RegisteredSocket.UnixAddress>) =>
  Effect.gen(function*() {
    for (;;) {
      const done = yield* stream.withReceived((chunks) =>
        chunks.length === 0 ? Effect.succeed(true) : Effect.as(stream.sendMany(chunks.map((c) => c.buf)), false)
      )
      if (done) return yield* stream.shutdown()
    }
  })

/** Sends all of `bytes` through `stream` from one registration. */
const sendBytes = (stream: RegisteredSocket.TcpStream<RegisteredSocket.UnixAddress>, bytes: Uint8Array) =>
  Effect.gen(function*() {
    const memory = yield* RegisteredIo.allocateBuffer(bytes.length)
    memory.bytes.set(bytes)
    yield* stream.sendAll(memory.unsafeSlice(0, bytes.length) as RioBuf.RioBuf)
  })

/** Every byte `stream` receives until its peer's end of stream. */
const receiveAll = (stream: RegisteredSocket.TcpStream<RegisteredSocket.UnixAddress>, expected: number) =>
  Effect.gen(function*() {
    const got = new Uint8Array(expected + 1)
    let length = 0
    for (;;) {
      const chunks = yield* Effect.scoped(stream.receiveMany())
      if (chunks.length === 0) return got.subarray(0, length)
      for (const chunk of chunks) {
        assert.isAtMost(length + chunk.bytes.length, expected, "no more than was sent")
        got.set(chunk.bytes, length)
        length += chunk.bytes.length
      }
    }
  })

describeSocketBackends("Unix domain sockets", (it) => {
  it.scoped("an echo of 10,000 messages through a listener on a path; each end's address", () =>
    Effect.gen(function*() {
      if (yield* refusedHere) return
      const path = yield* socketPath
      const listener = yield* RegisteredSocket.listen({ path })
      assert.deepStrictEqual(listener.address, { path })
      const server = yield* Effect.fork(Effect.scoped(Effect.flatMap(listener.accept, (stream) =>
        Effect.zipRight(
          Effect.sync(() => {
            assert.deepStrictEqual(stream.localAddress, { path })
            assert.deepStrictEqual(stream.remoteAddress, { path: "" })
          }),
          echo(stream)
        ))))
      const client = yield* RegisteredSocket.connect({ path })
      assert.deepStrictEqual(client.localAddress, { path: "" })
      assert.deepStrictEqual(client.remoteAddress, { path })
      const sent = messages(10_000)
      const receiving = yield* Effect.fork(receiveAll(client, sent.length))
      yield* sendBytes(client, sent)
      yield* client.shutdown()
      const back = yield* Fiber.join(receiving)
      assert.strictEqual(back.length, sent.length)
      assert.isTrue(Buffer.from(back).equals(Buffer.from(sent)), "every byte echoed in order")
      yield* Fiber.join(server)
    }))

  it.scoped("a path in use is WSAEADDRINUSE; the path is removed when the listener's scope closes", () =>
    Effect.gen(function*() {
      if (yield* refusedHere) return
      const io = yield* RegisteredIo.RegisteredIo
      const path = yield* socketPath
      yield* Effect.scoped(Effect.gen(function*() {
        yield* RegisteredSocket.listen({ path })
        if (io.backend === "io_uring") assert.isTrue(statSync(path).isSocket(), "the socket file exists")
        const taken = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path })))
        assert.strictEqual(taken._tag, "WSAEADDRINUSE")
      }))
      if (io.backend === "io_uring") {
        assert.isFalse(existsSync(path), "the path went with the listener")
        // A file that is no socket is in the way too, and stays as it was.
        const file = path + ".txt"
        writeFileSync(file, "mine")
        const inTheWay = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path: file })))
        assert.strictEqual(inTheWay._tag, "WSAEADDRINUSE")
        assert.strictEqual(readFileSync(file, "utf8"), "mine")
      }
      // The path is free again: a second listener binds it and takes a connection.
      const again = yield* RegisteredSocket.listen({ path })
      const accepting = yield* Effect.fork(Effect.scoped(again.accept))
      yield* RegisteredSocket.connect({ path })
      yield* Fiber.join(accepting)
      const nothing = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ path: path + ".none" })))
      assert.strictEqual(nothing._tag, "WSAECONNREFUSED")
    }))

  it.scoped("bad input is typed: empty, NUL, too long, not a string, beside a port; TCP's options", () =>
    Effect.gen(function*() {
      if (yield* refusedHere) return
      const path = yield* socketPath
      const bad: ReadonlyArray<unknown> = ["", "a\0b", "x".repeat(108), "é".repeat(54), 42, null]
      for (const candidate of bad) {
        const listening = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path: candidate as string })))
        assert.strictEqual(listening._tag, "WSAEINVAL", `listen ${JSON.stringify(candidate)}`)
        const connecting = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ path: candidate as string })))
        assert.strictEqual(connecting._tag, "WSAEINVAL", `connect ${JSON.stringify(candidate)}`)
      }
      // 107 bytes fit (sun_path's 108 with its NUL).
      const longest = join(path, "..", "x".repeat(107 - join(path, "..").length - 1))
      assert.strictEqual(Buffer.byteLength(longest), 107)
      yield* Effect.scoped(RegisteredSocket.listen({ path: longest }))
      const mixed = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path, port: 0 } as never)))
      assert.strictEqual(mixed._tag, "WSAEINVAL")
      const tcpOption = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ path, noDelay: true } as never)))
      assert.strictEqual(tcpOption._tag, "WSAENOPROTOOPT")
      // Above Linux's default (and its cap, which it then doubles): what the listener took is not the default.
      const listener = yield* RegisteredSocket.listen({ path, receiveBufferSize: 1_000_000 })
      const listenerSize = yield* listener.option("receiveBufferSize")
      const noDelay = yield* Effect.flip(listener.option("noDelay"))
      assert.strictEqual(noDelay._tag, "WSAENOPROTOOPT")
      const accepting = yield* Effect.fork(
        Effect.scoped(
          Effect.flatMap(
            listener.accept,
            (stream) =>
              Effect.all([Effect.flip(stream.setOption("keepAlive", true)), stream.option("receiveBufferSize")])
          )
        )
      )
      const client = yield* RegisteredSocket.connect({ path, sendBufferSize: 32768 })
      assert.isAtLeast(yield* client.option("sendBufferSize"), 32768)
      const [keepAlive, acceptedSize] = yield* Fiber.join(accepting)
      assert.strictEqual(keepAlive._tag, "WSAENOPROTOOPT")
      // Linux gives an accepted Unix stream the system's sizes: the listener's are applied to it again.
      assert.strictEqual(acceptedSize, listenerSize, "an accepted stream has the listener's buffer sizes")
    }))

  it.scoped("a connect waits while the backlog is full; connect({ timeout }) gives up, its socket closed", () =>
    Effect.gen(function*() {
      if (yield* refusedHere) return
      const path = yield* socketPath
      const listener = yield* RegisteredSocket.listen({ path, backlog: 1 })
      // Linux takes backlog + 1 before a connect waits, the double backlog: connect until one waits.
      let timedOut: string | undefined
      let admitted = 0
      for (let i = 0; i < 8 && timedOut === undefined; i++) {
        const attempt = yield* Effect.either(RegisteredSocket.connect({ path, timeout: "150 millis" }))
        if (attempt._tag === "Left") timedOut = attempt.left._tag
        else admitted++
      }
      assert.strictEqual(timedOut, "WSAETIMEDOUT")
      assert.isAtLeast(admitted, 1)
      const fds = yield* settledFds
      const again = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({ path, timeout: "100 millis" })))
      assert.strictEqual(again._tag, "WSAETIMEDOUT")
      assert.strictEqual(yield* settledFds, fds, "the cancelled attempt's socket is closed")
      // Accepting makes room: the next connect goes through, and is accepted after the others.
      const connecting = yield* Effect.fork(RegisteredSocket.connect({ path, timeout: "5 seconds" }))
      for (let i = 0; i <= admitted; i++) yield* Effect.scoped(listener.accept)
      yield* Fiber.join(connecting)
    }))
})
