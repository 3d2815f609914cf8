/**
 * UDP receive rings on io_uring: one multishot RECVMSG per socket into a provided-buffer ring
 * over the ring's slots, against `node:dgram` senders. Every byte and sender is checked, and
 * the same is shown for the fallback (one receive posted per free slot) that kernels without
 * the feature get.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { Driver, ReceiveRing, ReceiveRings, Region, RingSink } from "@effect-rio/core/Driver"
import { assert, describe, it, layer } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as dgram from "node:dgram"
import * as LinuxDriver from "../../src/internal/linux/driver.js"
import * as Libc from "../../src/internal/linux/libc.js"
import { readVmPinKiB } from "../../src/internal/linux/vmpin.js"
import * as KoffiRio from "../../src/KoffiRio.js"

const MULTISHOT = "multishot RECVMSG into provided buffers"
const POSTED = "one receive posted per free slot"

/** Datagram `id` of `size` bytes (at least 4): the id, then bytes derived from it. */
const datagram = (id: number, size: number): Buffer => {
  const bytes = Buffer.alloc(size)
  bytes.writeUInt32BE(id, 0)
  for (let i = 4; i < size; i++) bytes[i] = (id * 31 + i * 7) & 0xff
  return bytes
}

const idOf = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)

const intact = (bytes: Uint8Array, size: number): boolean => {
  if (bytes.length !== size) return false
  const id = idOf(bytes)
  for (let i = 4; i < size; i++) if (bytes[i] !== ((id * 31 + i * 7) & 0xff)) return false
  return true
}

/** A deterministic size in 4..max for datagram `id`. */
const sizeOf = (id: number, max: number): number => 4 + ((id * 7919 + 13) % 104729) % (max - 3)

/** A `node:dgram` socket on 127.0.0.1 for the life of the scope. */
const dgramClient = Effect.acquireRelease(
  Effect.async<dgram.Socket>((resume) => {
    const socket = dgram.createSocket("udp4")
    socket.bind(0, "127.0.0.1", () => {
      resume(Effect.succeed(socket))
    })
  }),
  (socket) =>
    Effect.async<void>((resume) => {
      socket.close(() => resume(Effect.void))
    })
)

const send = (socket: dgram.Socket, bytes: Buffer, port: number) =>
  Effect.async<void, Error>((resume) => {
    socket.send(bytes, port, "127.0.0.1", (error) => resume(error ? Effect.fail(error) : Effect.void))
  })

/** Receives with `withReceived` until `done` says so or nothing arrives for `quiet`. */
const drain = (
  server: RegisteredSocket.UdpSocket,
  onDatagram: (datagram: RegisteredSocket.ReceivedDatagram) => void,
  done: () => boolean,
  quiet: Duration.DurationInput = "1 second"
) =>
  Effect.gen(function*() {
    while (!done()) {
      const got = yield* Effect.timeoutOption(
        server.withReceived((batch) => Effect.sync(() => batch.forEach(onDatagram))),
        quiet
      )
      if (Option.isNone(got)) return
    }
  })

layer(KoffiRio.layerLinux(), { excludeTestServices: true })("UDP receive rings on io_uring", (it) => {
  it.scoped("the ring is a multishot RECVMSG into provided buffers, and its slots hold slotSize bytes", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 8, slotSize: 512 } })
      assert.isUndefined(yield* server.receiveRing)
      const client = yield* dgramClient
      yield* send(client, datagram(1, 512), server.address.port)
      const batch = yield* server.receiveMany()
      assert.strictEqual(batch.length, 1)
      assert.isTrue(intact(batch[0]!.bytes, 512))
      assert.deepStrictEqual(yield* server.receiveRing, { mechanism: MULTISHOT, slots: 8, slotSize: 512 })
    }))

  it.scoped("5,000 datagrams of random sizes from 4 node:dgram senders: every byte, sender and order", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 256, slotSize: 2048 } })
      const clients = yield* Effect.all(Array.from({ length: 4 }, () => dgramClient))
      const byPort = new Map(clients.map((client, index) => [client.address().port, index]))
      const next = clients.map(() => 0)
      const total = 5000
      let received = 0
      let sent = 0
      const receiving = yield* Effect.fork(drain(server, ({ address, bytes }) => {
        assert.strictEqual(address.host, "127.0.0.1")
        const sender = byPort.get(address.port)
        assert.isDefined(sender, `a datagram from an unknown sender ${address.host}:${address.port}`)
        const id = idOf(bytes)
        // Sender k sends ids k, k + 4, k + 8, …: each arrives once, in its sender's order.
        assert.strictEqual(id, sender! + 4 * next[sender!]!, "in order per sender")
        assert.isTrue(intact(bytes, sizeOf(id, 2048)), `datagram ${id} intact`)
        next[sender!]!++
        received++
      }, () => received === total))
      // Paced so that the socket's receive buffer (rmem_default, 208 KiB here) never overflows:
      // the kernel would drop (RcvbufErrors), which no receiver can prevent.
      while (sent < total && receiving.unsafePoll() === null) {
        while (sent - received >= 32 && receiving.unsafePoll() === null) yield* Effect.sleep("1 millis")
        const id = sent++
        yield* send(clients[id % 4]!, datagram(id, sizeOf(id, 2048)), server.address.port)
      }
      yield* Fiber.join(receiving)
      assert.strictEqual(received, total)
      assert.strictEqual((yield* server.receiveRing)?.mechanism, MULTISHOT)
    }))

  it.scoped("a ring that runs empty (ENOBUFS) re-arms when slots come back: the rest arrives intact, in order", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 4, slotSize: 256 } })
      const client = yield* dgramClient
      const port = server.address.port
      for (let id = 0; id < 4; id++) yield* send(client, datagram(id, sizeOf(id, 256)), port)
      const held = yield* Scope.make()
      const first: Array<number> = []
      while (first.length < 4) {
        const batch = yield* Scope.extend(server.receiveMany(), held)
        for (const { bytes } of batch) {
          assert.isTrue(intact(bytes, sizeOf(idOf(bytes), 256)))
          first.push(idOf(bytes))
        }
      }
      assert.deepStrictEqual(first, [0, 1, 2, 3])
      // Every slot is lent out: the kernel ends the multishot with ENOBUFS and keeps these queued.
      for (let id = 4; id < 44; id++) yield* send(client, datagram(id, sizeOf(id, 256)), port)
      yield* Effect.sleep("30 millis")
      yield* Scope.close(held, Exit.void)
      const rest: Array<number> = []
      yield* drain(
        server,
        ({ bytes }) => {
          assert.isTrue(intact(bytes, sizeOf(idOf(bytes), 256)), `datagram ${idOf(bytes)} intact`)
          rest.push(idOf(bytes))
        },
        () => rest.at(-1) === 43,
        "500 millis"
      )
      for (let i = 1; i < rest.length; i++) assert.isAbove(rest[i]!, rest[i - 1]!, "in order")
      assert.strictEqual(rest[0], 4)
      assert.isAtLeast(rest.length, 30, `delivered after release: ${rest.join(",")}`)
      assert.strictEqual((yield* server.receiveRing)?.mechanism, MULTISHOT)
    }))

  it.scoped("a datagram larger than slotSize fails its turn with WSAEMSGSIZE (sender and sizes named)", () =>
    Effect.gen(function*() {
      const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 8, slotSize: 256 } })
      const client = yield* dgramClient
      const port = server.address.port
      // A datagram of exactly slotSize fits; one byte more does not.
      for (const [id, size] of [[1, 256], [2, 257], [3, 40]] as const) yield* send(client, datagram(id, size), port)
      yield* Effect.sleep("20 millis")
      const received: Array<number> = []
      const collect = server.withReceived((batch) =>
        Effect.sync(() => {
          for (const { bytes } of batch) {
            assert.isTrue(intact(bytes, idOf(bytes) === 1 ? 256 : 40))
            received.push(idOf(bytes))
          }
        })
      )
      yield* collect
      assert.deepStrictEqual(received, [1])
      const error = yield* Effect.flip(collect)
      assert.strictEqual(error._tag, "WSAEMSGSIZE")
      assert.include(error.message, "257 bytes")
      assert.include(error.message, `127.0.0.1:${client.address().port}`)
      assert.include(error.message, "256-byte slots")
      yield* collect
      assert.deepStrictEqual(received, [1, 3])
    }))

  it.effect("closing the socket while receiveMany waits ends it with WSAECONNABORTED; stats and VmPin return", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const pinned = readVmPinKiB()
      const sockets = yield* Scope.make()
      const server = yield* Scope.extend(RegisteredSocket.udp({ receiveRing: { slots: 64 } }), sockets)
      const waiting = yield* Effect.fork(Effect.scoped(server.receiveMany()))
      while ((yield* server.receiveRing) === undefined) yield* Effect.sleep("1 millis")
      assert.strictEqual((yield* server.receiveRing)?.mechanism, MULTISHOT)
      assert.isAbove(readVmPinKiB(), pinned, "the ring's registration is pinned")
      yield* Effect.sleep("5 millis")
      yield* Scope.close(sockets, Exit.void)
      const ended = yield* Effect.flip(Fiber.join(waiting))
      assert.strictEqual(ended._tag, "WSAECONNABORTED")
      assert.deepStrictEqual(yield* io.stats, before)
      assert.strictEqual(readVmPinKiB(), pinned)
    }))

  it.effect("closing while every slot is lent (the multishot ended with ENOBUFS) finishes at once", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const pinned = readVmPinKiB()
      const sockets = yield* Scope.make()
      const server = yield* Scope.extend(RegisteredSocket.udp({ receiveRing: { slots: 2, slotSize: 64 } }), sockets)
      const client = yield* Scope.extend(dgramClient, sockets)
      for (let id = 0; id < 5; id++) yield* send(client, datagram(id, 64), server.address.port)
      const lent = yield* Scope.make()
      const held: Array<number> = []
      while (held.length < 2) {
        for (const { bytes } of yield* Scope.extend(server.receiveMany(), lent)) held.push(idOf(bytes))
      }
      assert.deepStrictEqual(held, [0, 1])
      yield* Effect.sleep("10 millis")
      const closing = yield* Effect.fork(Scope.close(sockets, Exit.void))
      yield* Effect.sleep("10 millis")
      assert.isNull(closing.unsafePoll(), "the close waits for the lent batch")
      yield* Scope.close(lent, Exit.void)
      yield* Fiber.join(closing)
      assert.deepStrictEqual(yield* io.stats, before)
      assert.strictEqual(readVmPinKiB(), pinned)
    }))

  it.scoped("many rings open and close: buffer groups are reused, the port still receives", () =>
    Effect.gen(function*() {
      const client = yield* dgramClient
      for (let round = 0; round < 200; round++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 4, slotSize: 64 } })
          yield* send(client, datagram(round, 64), server.address.port)
          const ids = yield* server.withReceived((batch) => Effect.succeed(batch.map(({ bytes }) => idOf(bytes))))
          assert.deepStrictEqual(ids, [round])
        }))
      }
    }))
})

layer(
  RegisteredIo.layerDriver(
    LinuxDriver.make({ multishot: false }) /* the same as KoffiRio.layerLinux({ multishot: false }) */
  ),
  { excludeTestServices: true }
)(
  "UDP receive rings on io_uring, multishot switched off",
  (it) => {
    it.scoped("the core posts one receive per free slot, and an echo still works", () =>
      Effect.gen(function*() {
        const pool = yield* BufferPool.make({ slotSize: 256, slots: 4 })
        const server = yield* RegisteredSocket.udp({ receiveRing: { slots: 16, slotSize: 256 } })
        yield* Effect.forkScoped(Effect.forever(server.withReceived((batch) =>
          server.sendMany(batch.map(({ address, buf }) => ({ buf, to: address })))
        )))
        const client = yield* RegisteredSocket.udp()
        for (let id = 0; id < 50; id++) {
          const size = sizeOf(id, 256)
          const echoed = yield* pool.withLease((lease) =>
            Effect.gen(function*() {
              lease.bytes.set(datagram(id, size))
              yield* client.sendTo({ ...lease.buf, length: size }, server.address)
              const { length } = yield* client.receiveFrom(lease.buf)
              return Buffer.from(lease.bytes.subarray(0, length))
            })
          )
          assert.isTrue(intact(echoed, size) && idOf(echoed) === id, `echo ${id}`)
        }
        assert.deepStrictEqual(yield* server.receiveRing, { mechanism: POSTED, slots: 16, slotSize: 256 })
      }))
  }
)

describe("LinuxDriver receive rings, below the core", () => {
  /** A registration of `byteLength` bytes and a UDP socket on `driver`, both freed by `dispose`. */
  const fixture = (driver: Driver, byteLength: number) => {
    const memory = driver.allocate(byteLength)
    if (!("bytes" in memory)) throw new Error(memory.message)
    const id = driver.register(memory.address, memory.bytes.length)
    if (typeof id !== "number") throw new Error(id.message)
    const socket = driver.net!.udp({ host: "127.0.0.1", port: 0 }, [])
    if (socket instanceof Error) throw new Error(socket.message)
    const region = (offset: number, length: number): Region => ({
      bufferId: id,
      offset,
      length,
      base: Number(memory.address),
      memory: memory.bytes
    })
    const dispose = () => {
      driver.net!.close(socket)
      driver.deregister(id)
      driver.free(memory)
    }
    return { bytes: memory.bytes, socket, region, dispose }
  }

  /** A sink that records what it is told, with a way to wait until `count` reports arrived. */
  const recorder = Effect.map(Effect.makeLatch(false), (flushed) => {
    const events: Array<string> = []
    const sink: RingSink = {
      deliver: (slot, offset, length) => events.push(`deliver ${slot} ${offset} ${length}`),
      fail: (slot, error) => events.push(`fail ${slot} ${error._tag}`),
      flush: () => Effect.runSync(flushed.open),
      end: (error) => {
        events.push(`end ${error._tag}`)
        Effect.runSync(flushed.open)
      }
    }
    const waitFor = (count: number) =>
      Effect.gen(function*() {
        while (events.length < count) {
          yield* flushed.await
          yield* flushed.close
        }
      })
    return { events, sink, waitFor }
  })

  const open = (driver: Driver, ...args: Parameters<ReceiveRings["open"]>): ReceiveRing => {
    const ring = driver.net!.udpReceiveRings!.open(...args)
    if (ring instanceof Error) throw new Error(ring.message)
    return ring
  }

  const close = (ring: ReceiveRing) => Effect.async<void>((resume) => ring.close(() => resume(Effect.void)))

  it.effect("the layer can shut down with a ring still open; closing the ring afterwards finishes at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const driver = yield* Scope.extend(LinuxDriver.make({ slots: 4 }), scope)
      assert.isDefined(driver.net!.udpReceiveRings, "this kernel runs multishot RECVMSG into provided buffers")
      assert.strictEqual(driver.net!.udpReceiveRings!.headerBytes, 48)
      const { dispose, region, socket } = fixture(driver, 4 * 4096)
      const { events, sink } = yield* recorder
      const ring = open(driver, socket, region(0, 4 * 4096), 4096, 4, sink)
      assert.strictEqual(ring.mechanism, MULTISHOT)
      yield* Effect.sleep("5 millis")
      yield* Scope.close(scope, Exit.void)
      // Waiting callers learn that nothing more will come (the core fails them).
      assert.deepStrictEqual(events, ["end RioSystemError"])
      let closed = false
      ring.close(() => {
        closed = true
      })
      assert.isTrue(closed)
      ring.recycle(0)
      dispose()
    }))

  it.effect("a ring of 5 slots (a buffer ring of 8 entries) fills every slot: payload at headerBytes, slotBytes - headerBytes long", () =>
    Effect.scoped(Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const { bytes, dispose, region, socket } = fixture(driver, 5 * 100)
      const { events, sink, waitFor } = yield* recorder
      const ring = open(driver, socket, region(0, 5 * 100), 100, 5, sink)
      const client = yield* dgramClient
      for (let i = 0; i < 5; i++) yield* send(client, datagram(i, 52), socket.local.port)
      yield* waitFor(5)
      assert.deepStrictEqual([...events].sort(), [0, 1, 2, 3, 4].map((slot) => `deliver ${slot} 48 52`))
      for (let slot = 0; slot < 5; slot++) assert.isTrue(intact(bytes.subarray(slot * 100 + 48, slot * 100 + 100), 52))
      yield* close(ring)
      dispose()
    })))

  it.effect("a failure of the receive itself (IP_RECVERR: ICMP port unreachable) is reported, then receiving goes on", () =>
    Effect.scoped(Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const { dispose, region, socket } = fixture(driver, 4096)
      // An unconnected UDP socket hears of ICMP errors only with IP_RECVERR (SOL_IP 0, 11).
      assert.strictEqual(Libc.load().setsockoptInt(socket.handle, 0, 11, 1), 0)
      const { events, sink, waitFor } = yield* recorder
      const ring = open(driver, socket, region(0, 400), 100, 4, sink)
      yield* Effect.sleep("5 millis")
      const gone = yield* Effect.scoped(Effect.map(dgramClient, (client) => client.address().port))
      const sent = yield* Effect.async<number | Error>((resume) => {
        driver.net!.sendTo(socket, region(400, 8), { host: "127.0.0.1", port: gone }, (result) => {
          resume(Effect.succeed(result))
        })
      })
      assert.strictEqual(sent, 8)
      yield* waitFor(1)
      yield* send(yield* dgramClient, datagram(1, 20), socket.local.port)
      yield* waitFor(2)
      assert.deepStrictEqual(events, ["fail -1 WSAECONNREFUSED", "deliver 0 48 20"])
      yield* close(ring)
      dispose()
    })))
})
