/**
 * `RegisteredSocket` on io_uring against peers this project did not write: Node's own
 * `node:dgram` and `node:net`, in both directions, and `socat` (Debian's package, installed
 * by .ci/run) as the other end of a TCP and a UDP exchange. Every byte is checked.
 */
import { BufferPool, RegisteredIo, RegisteredSocket, SocketStreams } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { spawn, spawnSync } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as dgram from "node:dgram"
import * as net from "node:net"
import * as KoffiRio from "../../src/KoffiRio.js"

const pattern = (length: number, seed: number): Buffer => {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff
  return bytes
}

/** A child process for the life of the scope. */
const child = (command: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] })),
    (process: ChildProcess) => Effect.sync(() => process.kill())
  )

/**
 * socat comes from Debian (`apt-get install socat`, which .ci/run does). In CI a missing
 * socat fails the run; on a developer's machine without it, its two tests are reported as
 * skipped with the reason, so that `pnpm test` still works with only Node and npm.
 */
const socatMissing = spawnSync("socat", ["-V"]).status !== 0
const socatSkip = socatMissing && process.env.CI === undefined
const socat = (title: string) =>
  socatSkip ? `${title} — skipped: socat is not installed (apt-get install socat)` : title
const requireSocat = Effect.sync(() =>
  assert.isFalse(socatMissing, "socat is not installed: apt-get install socat (.ci/run does)")
)

/** Waits until something accepts TCP connections on `port`. */
const tcpReady = (port: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < 200; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const socket = net.connect(port, "127.0.0.1", () => {
          socket.destroy()
          resolve(true)
        })
        socket.on("error", () => resolve(false))
      })
      if (ok) return
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error(`nothing listens on ${port}`)
  })

const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
)

/** A node:net client that sends `sent`, ends its side, and resolves with everything echoed. */
const nodeNetClient = (port: number, sent: Buffer) =>
  Effect.promise(() =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Array<Buffer> = []
      const socket = net.connect(port, "127.0.0.1", () => socket.end(sent))
      socket.on("data", (chunk) => chunks.push(chunk))
      socket.on("end", () => resolve(Buffer.concat(chunks)))
      socket.on("error", reject)
    })
  )

/** A node:net echo server for the life of the scope: its port. */
const nodeNetEchoServer = Effect.gen(function*() {
  const echoServer = net.createServer((socket) => socket.pipe(socket))
  yield* Effect.addFinalizer(() => Effect.sync(() => echoServer.close()))
  yield* Effect.promise(() => new Promise<void>((resolve) => echoServer.listen(0, "127.0.0.1", resolve)))
  return (echoServer.address() as net.AddressInfo).port
})

layer(KoffiRio.layerLinux(), { excludeTestServices: true })("RegisteredSocket on io_uring with foreign peers", (it) => {
  it.scoped("node:dgram → ours (echo) and ours → node:dgram (echo), 200 datagrams each way", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 2048, slots: 8 })
      const ours = yield* RegisteredSocket.udp()
      yield* Effect.forkScoped(
        pool.withLease((lease) =>
          Effect.forever(
            Effect.flatMap(ours.receiveFrom(lease.buf), ({ address, length }) =>
              ours.sendTo({ ...lease.buf, length }, address))
          )
        )
      )
      const node = dgram.createSocket("udp4")
      yield* Effect.addFinalizer(() => Effect.sync(() => node.close()))
      yield* Effect.promise(() => new Promise<void>((resolve) => node.bind(0, "127.0.0.1", resolve)))
      for (let i = 0; i < 200; i++) {
        const message = pattern(1 + (i * 37) % 1400, i)
        const reply = yield* Effect.promise(() =>
          new Promise<Buffer>((resolve) => {
            node.once("message", resolve)
            node.send(message, ours.address.port, "127.0.0.1")
          })
        )
        assert.isTrue(reply.equals(message), `datagram ${i} from node:dgram`)
      }
      // Now node:dgram echoes and ours is the client.
      node.on("message", (message, from) => node.send(message, from.port, from.address))
      const client = yield* RegisteredSocket.udp()
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          for (let i = 0; i < 200; i++) {
            const message = pattern(1 + (i * 53) % 1400, i + 1000)
            lease.bytes.set(message)
            yield* client.sendTo({ ...lease.buf, length: message.length }, {
              host: "127.0.0.1",
              port: node.address().port
            })
            lease.bytes.fill(0)
            const datagram = yield* client.receiveFrom(lease.buf)
            assert.strictEqual(datagram.address.port, node.address().port)
            assert.isTrue(Buffer.from(lease.bytes.subarray(0, datagram.length)).equals(message), `datagram ${i}`)
          }
        })
      )
    }))

  it.scoped("node:net → ours (echo) and ours → node:net (echo), 1 MiB each way", () =>
    Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: 65536, slots: 4 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const server = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        const stream = yield* listener.accept
        yield* pool.withLease((lease) =>
          Effect.gen(function*() {
            for (;;) {
              const n = yield* stream.receive(lease.buf)
              if (n === 0) return yield* stream.shutdown()
              yield* stream.sendAll({ ...lease.buf, length: n })
            }
          })
        )
      })))
      const sent = pattern(1 << 20, 1)
      const echoed = yield* nodeNetClient(listener.address.port, sent)
      assert.isTrue(echoed.equals(sent), "node:net got its megabyte back")
      yield* Fiber.join(server)

      // Now node:net echoes and ours connects.
      const port = yield* nodeNetEchoServer
      const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port })
      const received = yield* Effect.fork(pool.withLease((lease) =>
        Effect.gen(function*() {
          const chunks: Array<Buffer> = []
          for (;;) {
            const n = yield* stream.receive(lease.buf)
            if (n === 0) return Buffer.concat(chunks)
            chunks.push(Buffer.from(lease.bytes.subarray(0, n)))
          }
        })
      ))
      yield* pool.withLease((lease) =>
        Effect.gen(function*() {
          for (let at = 0; at < sent.length; at += 65536) {
            lease.bytes.set(sent.subarray(at, at + 65536))
            yield* stream.sendAll(lease.buf)
          }
          yield* stream.shutdown()
        })
      )
      assert.isTrue((yield* Fiber.join(received)).equals(sent), "ours got its megabyte back from node:net")
    }))

  it.scoped("toSink and toStream against node:net: 1 MiB through Stream operators each way, every byte", () =>
    Effect.gen(function*() {
      const sent = pattern(1 << 20, 3)
      // node:net echoes: ours sends through toSink (uneven pieces), reads back through toStream.
      const port = yield* nodeNetEchoServer
      const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port })
      const pieces = Array.from({ length: 64 }, (_, i) => sent.subarray(i * 16384, (i + 1) * 16384))
      const sending = yield* Effect.fork(Effect.zipRight(
        Stream.run(Stream.fromIterable(pieces).pipe(Stream.rechunk(5)), SocketStreams.toSink(stream, 20000)),
        stream.shutdown()
      ))
      const back = yield* Stream.runCollect(SocketStreams.toStream(stream))
      yield* Fiber.join(sending)
      assert.isTrue(Buffer.concat([...back]).equals(sent), "ours got its megabyte back from node:net")
      // node:net sends to ours, which pipes toStream into toSink: an echo made of operators.
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      const echo = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        const accepted = yield* listener.accept
        yield* Stream.run(SocketStreams.toStream(accepted), SocketStreams.toSink(accepted))
        yield* accepted.shutdown()
      })))
      assert.isTrue((yield* nodeNetClient(listener.address.port, sent)).equals(sent), "node:net got its megabyte back")
      yield* Fiber.join(echo)
    }))

  it.scoped.skipIf(socatSkip)(
    socat("socat as a TCP echo server: ours connects, sends 256 KiB, reads it all back"),
    () =>
      Effect.gen(function*() {
        yield* requireSocat
        const port = yield* freePort
        // fork: a cat per connection, so that the readiness probe does not use up the listener.
        yield* child("socat", [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, "EXEC:cat"])
        yield* tcpReady(port)
        const pool = yield* BufferPool.make({ slotSize: 65536, slots: 2 })
        const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port })
        const sent = pattern(256 * 1024, 3)
        const received = yield* Effect.fork(pool.withLease((lease) =>
          Effect.gen(function*() {
            const chunks: Array<Buffer> = []
            let total = 0
            while (total < sent.length) {
              const n = yield* stream.receive(lease.buf)
              if (n === 0) break
              chunks.push(Buffer.from(lease.bytes.subarray(0, n)))
              total += n
            }
            return Buffer.concat(chunks)
          })
        ))
        yield* pool.withLease((lease) =>
          Effect.gen(function*() {
            for (let at = 0; at < sent.length; at += 65536) {
              lease.bytes.set(sent.subarray(at, at + 65536))
              yield* stream.sendAll(lease.buf)
            }
          })
        )
        assert.isTrue((yield* Fiber.join(received)).equals(sent))
      })
  )

  it.scoped.skipIf(socatSkip)(
    socat("socat as a UDP client: each datagram it sends to ours comes back"),
    () =>
      Effect.gen(function*() {
        yield* requireSocat
        const pool = yield* BufferPool.make({ slotSize: 2048, slots: 2 })
        const ours = yield* RegisteredSocket.udp()
        yield* Effect.forkScoped(pool.withLease((lease) =>
          Effect.forever(
            Effect.flatMap(
              ours.receiveFrom(lease.buf),
              ({ address, length }) => ours.sendTo({ ...lease.buf, length }, address)
            )
          )
        ))
        const message = "datagram through socat\n"
        const result = yield* Effect.promise(() =>
          new Promise<{ stdout: string; code: number | null }>((resolve) => {
            const socat = spawn("socat", ["-t", "2", "-", `UDP:127.0.0.1:${ours.address.port}`])
            let stdout = ""
            socat.stdout.on("data", (chunk) => {
              stdout += chunk
              if (stdout.length >= message.length) {
                socat.kill()
              }
            })
            socat.on("close", (code) => resolve({ stdout, code }))
            socat.stdin.end(message)
          })
        )
        assert.strictEqual(result.stdout, message)
      })
  )
})

/** Copies every chunk `stream` receives through its ring, until the peer's end or `until` bytes. */
const collect = (stream: RegisteredSocket.TcpStream, until = Number.POSITIVE_INFINITY) =>
  Effect.gen(function*() {
    const chunks: Array<Buffer> = []
    let total = 0
    while (total < until) {
      const count = yield* stream.withReceived((received) =>
        Effect.sync(() => {
          for (const chunk of received) {
            chunks.push(Buffer.from(chunk.bytes))
            total += chunk.bytes.length
          }
          return received.length
        })
      )
      if (count === 0) break
    }
    return Buffer.concat(chunks)
  })

/** `sent` as slices of 1..5000 bytes of one registration, sent with sendMany 16 at a time. */
const sendInBatches = (stream: RegisteredSocket.TcpStream, sent: Buffer) =>
  Effect.gen(function*() {
    const source = yield* RegisteredIo.allocateBuffer(sent.length)
    source.bytes.set(sent)
    const slices: Array<RioBuf.RioBuf> = []
    for (let at = 0; at < sent.length;) {
      const size = Math.min(sent.length - at, 1 + (at * 7919) % 5000)
      slices.push(yield* source.slice(at, size))
      at += size
    }
    for (let i = 0; i < slices.length; i += 16) yield* stream.sendMany(slices.slice(i, i + 16))
  })

for (
  const [name, layerOf] of [
    ["multishot RECV", KoffiRio.layerLinux()],
    ["posted receives (multishot: false)", KoffiRio.layerLinux({ multishot: false })]
  ] as const
) {
  layer(layerOf, { excludeTestServices: true })(`TCP batches on io_uring (${name}) with foreign peers`, (it) => {
    it.scoped("node:net → ours (batch echo from a shared ring) and ours → node:net (echo), 1 MiB each way", () =>
      Effect.gen(function*() {
        // Small slots, so that a megabyte is thousands of chunks through a ring shared with no one.
        const listener = yield* RegisteredSocket.listen({ port: 0, receiveRing: { slotSize: 1500, slots: 64 } })
        const server = yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
          const stream = yield* listener.accept
          for (;;) {
            const more = yield* stream.withReceived((chunks) =>
              chunks.length === 0
                ? Effect.succeed(false)
                : Effect.as(stream.sendMany(chunks.map((chunk) => chunk.buf)), true)
            )
            if (!more) return yield* stream.shutdown()
          }
        })))
        const sent = pattern(1 << 20, 4)
        const echoed = yield* nodeNetClient(listener.address.port, sent)
        assert.isTrue(echoed.equals(sent), "node:net got its megabyte back")
        yield* Fiber.join(server)

        const port = yield* nodeNetEchoServer
        const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port, receiveRing: { slots: 16 } })
        const received = yield* Effect.fork(collect(stream))
        const back = pattern(1 << 20, 5)
        yield* sendInBatches(stream, back)
        yield* stream.shutdown()
        assert.isTrue((yield* Fiber.join(received)).equals(back), "ours got its megabyte back from node:net")
      }))

    it.scoped.skipIf(socatSkip)(
      socat("socat as a TCP echo server: ours sends 1 MiB in batches, reads it all back"),
      () =>
        Effect.gen(function*() {
          yield* requireSocat
          const port = yield* freePort
          yield* child("socat", [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, "EXEC:cat"])
          yield* tcpReady(port)
          const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port })
          const sent = pattern(1 << 20, 6)
          const received = yield* Effect.fork(collect(stream, sent.length))
          yield* sendInBatches(stream, sent)
          assert.isTrue((yield* Fiber.join(received)).equals(sent))
          assert.match((yield* stream.receiveRing)!.mechanism, name === "multishot RECV" ? /multishot RECV/ : /posted/)
        })
    )
  })
}
