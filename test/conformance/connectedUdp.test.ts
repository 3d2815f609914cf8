/**
 * Connected UDP on every backend with sockets: `udp({ connect })` talks to one peer with `send`
 * and `receive` (no addresses), hears only that peer, and sends to no one else; an unconnected
 * socket's `send` / `receive` are `WSAENOTCONN`. On a real kernel, against node:dgram too. (Winsock's
 * driver keeps the peer itself rather than connecting: its cancellation pokes must be heard.)
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Dgram from "node:dgram"
import { describeSocketBackends } from "./describeBackends.js"

/** A registration with `text` at its start, and a slice of it. */
const textSlice = (text: string) =>
  Effect.map(RegisteredIo.allocateBuffer(4096), (memory) => {
    const bytes = new TextEncoder().encode(text)
    memory.bytes.set(bytes)
    return { memory, buf: memory.unsafeSlice(0, bytes.length) as RioBuf.RioBuf }
  })

/** The next datagram `receive` gets, as text. */
const receiveText = (socket: RegisteredSocket.UdpSocket) =>
  Effect.gen(function*() {
    const memory = yield* RegisteredIo.allocateBuffer(2048)
    const length = yield* socket.receive(memory.unsafeSlice(0, 2048) as RioBuf.RioBuf)
    return new TextDecoder().decode(memory.bytes.subarray(0, length))
  })

describeSocketBackends("connected UDP", (it) => {
  it.scoped("send and receive talk to the peer only; datagrams from anyone else never arrive", () =>
    Effect.gen(function*() {
      const peer = yield* RegisteredSocket.udp()
      const stranger = yield* RegisteredSocket.udp()
      const socket = yield* RegisteredSocket.udp({ host: "127.0.0.1", connect: peer.address })
      assert.deepStrictEqual(socket.remoteAddress, peer.address)
      const hello = yield* textSlice("hello peer")
      assert.strictEqual(yield* socket.send(hello.buf), 10)
      const memory = yield* RegisteredIo.allocateBuffer(2048)
      const got = yield* peer.receiveFrom(memory.unsafeSlice(0, 2048) as RioBuf.RioBuf)
      assert.strictEqual(new TextDecoder().decode(memory.bytes.subarray(0, got.length)), "hello peer")
      assert.strictEqual(got.address.port, socket.address.port)
      // The stranger's datagrams come first — one too large for the receive's slice — but only the peer's arrives.
      yield* stranger.sendTo((yield* textSlice("x".repeat(3000))).buf, socket.address)
      yield* stranger.sendTo((yield* textSlice("from a stranger")).buf, socket.address)
      yield* peer.sendTo((yield* textSlice("from the peer")).buf, socket.address)
      assert.strictEqual(yield* receiveText(socket), "from the peer")
    }))

  it.scoped("batches too, and sendTo / sendMany name the peer or nobody", () =>
    Effect.gen(function*() {
      const peer = yield* RegisteredSocket.udp()
      const stranger = yield* RegisteredSocket.udp()
      const socket = yield* RegisteredSocket.udp({ host: "127.0.0.1", connect: peer.address })
      const hello = yield* textSlice("hello peer")
      assert.strictEqual(yield* socket.sendMany([{ buf: hello.buf, to: peer.address }]), 1)
      assert.strictEqual(yield* socket.sendTo(hello.buf, peer.address), 10)
      const elsewhere = yield* Effect.flip(socket.sendTo(hello.buf, stranger.address))
      assert.strictEqual(elsewhere._tag, "WSAEINVAL")
      assert.include(elsewhere.message, "connected to")
      yield* peer.sendTo((yield* textSlice("batch")).buf, socket.address)
      const batch = yield* socket.receiveMany()
      assert.strictEqual(new TextDecoder().decode(batch[0]!.bytes), "batch")
      assert.strictEqual(batch[0]!.address.port, peer.address.port)
    }))

  it.scoped("closing a connected socket with receives in flight (single and ring) ends them; none is left", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = (yield* io.stats).registeredBuffers
      const peer = yield* RegisteredSocket.udp()
      yield* Effect.scoped(Effect.gen(function*() {
        const socket = yield* RegisteredSocket.udp({ host: "127.0.0.1", connect: peer.address })
        const memory = yield* RegisteredIo.allocateBuffer(2048)
        const single = yield* Effect.fork(Effect.either(socket.receive(memory.unsafeSlice(0, 2048) as RioBuf.RioBuf)))
        const batch = yield* Effect.fork(Effect.either(Effect.scoped(socket.receiveMany())))
        yield* Effect.sleep("50 millis")
        // Interrupting the single receive cancels it in the kernel; the socket goes on.
        yield* Fiber.interrupt(single)
        yield* peer.sendTo((yield* textSlice("still here")).buf, socket.address)
        const got = yield* Fiber.join(batch)
        assert.strictEqual(got._tag, "Right")
        if (got._tag === "Right") assert.strictEqual(new TextDecoder().decode(got.right[0]!.bytes), "still here")
        yield* Effect.fork(Effect.scoped(socket.receiveMany()))
        yield* Effect.sleep("20 millis")
      }))
      assert.strictEqual((yield* io.stats).registeredBuffers, before, "the rings and buffers went with the scope")
    }))

  it.scoped("an unconnected socket's send and receive are WSAENOTCONN; a bad peer is refused", () =>
    Effect.gen(function*() {
      const socket = yield* RegisteredSocket.udp()
      assert.isUndefined(socket.remoteAddress)
      const { buf } = yield* textSlice("x")
      assert.strictEqual((yield* Effect.flip(socket.send(buf)))._tag, "WSAENOTCONN")
      assert.strictEqual((yield* Effect.flip(socket.receive(buf)))._tag, "WSAENOTCONN")
      const port0 = yield* Effect.flip(Effect.scoped(RegisteredSocket.udp({ connect: { host: "127.0.0.1", port: 0 } })))
      assert.strictEqual(port0._tag, "WSAEINVAL")
      const nonsense = yield* Effect.flip(Effect.scoped(RegisteredSocket.udp({ connect: "x" as never })))
      assert.strictEqual(nonsense._tag, "WSAEINVAL")
    }))

  it.scoped("without a host, the socket binds the peer family's wildcard and reports the source address picked", () =>
    Effect.gen(function*() {
      const peer = yield* RegisteredSocket.udp({ host: "::1" })
      const socket = yield* RegisteredSocket.udp({ connect: peer.address })
      assert.strictEqual(socket.address.host, "::1", "the kernel picked the route's source address")
      yield* socket.send((yield* textSlice("over IPv6")).buf)
      const memory = yield* RegisteredIo.allocateBuffer(2048)
      const got = yield* peer.receiveFrom(memory.unsafeSlice(0, 2048) as RioBuf.RioBuf)
      assert.strictEqual(new TextDecoder().decode(memory.bytes.subarray(0, got.length)), "over IPv6")
      // The peer spelt another way is the same peer: its datagrams arrive.
      const spelt = yield* RegisteredSocket.udp({ connect: { host: "0:0:0:0:0:0:0:1", port: peer.address.port } })
      yield* peer.sendTo((yield* textSlice("to the long spelling")).buf, spelt.address)
      assert.strictEqual(yield* receiveText(spelt), "to the long spelling")
    }))

  it.scoped("against node:dgram on a real kernel: both ways, every byte", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      if (io.backend === "test") return // the double's network has no room for node:dgram
      const node = yield* Effect.acquireRelease(
        Effect.async<Dgram.Socket>((resume) => {
          const node = Dgram.createSocket("udp4")
          node.on("message", (message, from) => node.send(Buffer.from(`echo ${message}`), from.port, from.address))
          node.bind(0, "127.0.0.1", () => resume(Effect.succeed(node)))
        }),
        (node) => Effect.sync(() => node.close())
      )
      const socket = yield* RegisteredSocket.udp({ connect: { host: "127.0.0.1", port: node.address().port } })
      for (let i = 0; i < 20; i++) {
        yield* socket.send((yield* textSlice(`datagram ${i}`)).buf)
        assert.strictEqual(yield* receiveText(socket), `echo datagram ${i}`)
      }
    }))
})
