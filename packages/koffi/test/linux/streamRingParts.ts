/**
 * The parts of streamRings.test.ts: a driver's slots and listener, node:net clients accepted
 * into streams that receive through a recording sink, and closing as the core closes.
 */
import type { Driver, NetDriverError, NetSocket, Region, StreamReceiver, StreamSink } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import * as LinuxDriver from "../../src/internal/linux/driver.js"

export const MECHANISM = "multishot RECV into provided buffers"

/** Polls `done` until it holds; fails naming `what` after `ms`. */
export const until = (done: () => boolean, what: string, ms = 5000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    while (!done()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what}`))
      yield* Effect.sleep("1 millis")
    }
  })

/** A registration of `slots` slots of `slotBytes` on `driver`, freed with the scope. */
export const slotMemory = (driver: Driver, slotBytes: number, slots: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const memory = driver.allocate(slotBytes * slots)
      if (!("bytes" in memory)) throw new Error(memory.message)
      const id = driver.register(memory.address, memory.bytes.length)
      if (typeof id !== "number") throw new Error(id.message)
      const region: Region = {
        bufferId: id,
        offset: 0,
        length: slotBytes * slots,
        base: Number(memory.address),
        memory: memory.bytes
      }
      return { memory, id, region }
    }),
    ({ id, memory }) =>
      Effect.sync(() => {
        driver.deregister(id)
        driver.free(memory)
      })
  )

/** A set of `slots` slots of `slotBytes` over a fresh registration. */
export const openSlots = (driver: Driver, slotBytes: number, slots: number) =>
  Effect.map(slotMemory(driver, slotBytes, slots), ({ region }) => {
    const opened = driver.net!.tcpReceiveRings!.open(region, slotBytes, slots)
    if (opened instanceof Error) throw new Error(opened.message)
    return { slots: opened, region, bytes: region.memory, slotBytes }
  })

export type Slots = Effect.Effect.Success<ReturnType<typeof openSlots>>

/** A listener of `driver` on 127.0.0.1, closed with the scope. */
export const listener = (driver: Driver) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const socket = driver.net!.listen({ host: "127.0.0.1", port: 0 }, 16, [])
      if (socket instanceof Error) throw new Error(socket.message)
      return socket
    }),
    (socket) => Effect.sync(() => driver.net!.close(socket))
  )

/** A `node:net` client connected to `server`, and the stream `driver` accepted from it. */
export const connection = (driver: Driver, server: NetSocket<SocketAddress>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: NetSocket; readonly client: net.Socket }, NetDriverError>((resume) => {
      const client = net.connect(server.local.port, "127.0.0.1")
      // Closing our side with bytes unread resets the connection: the peer hears ECONNRESET.
      client.on("error", () => {})
      driver.net!.accept(server, [], (result) => {
        resume(result instanceof Error ? Effect.fail(result) : Effect.succeed({ socket: result, client }))
      })
    }),
    ({ client }) => Effect.sync(() => client.destroy())
  )

/**
 * When a recorder gives its slots back: never by itself (`held`, until `recycle`), on each
 * flush, as the core does when a batch ends (`flush`), or a timer after each flush (`late`).
 */
export type Recycling = "held" | "flush" | "late"

/** A sink that copies each chunk out of its slot and keeps the slot until it recycles it. */
export const recorder = (set: Slots, recycling: Recycling = "held") => {
  const chunks: Array<Buffer> = []
  const held: Array<number> = []
  const state = {
    ends: 0,
    error: undefined as NetDriverError | undefined,
    flushes: 0,
    recycling,
    onDeliver: (_received: number) => {}
  }
  let received = 0
  const recycle = () => {
    for (const slot of held.splice(0)) set.slots.recycle(slot)
  }
  const sink: StreamSink = {
    deliver: (slot, length) => {
      assert.isTrue(length >= 1 && length <= set.slotBytes, `a chunk of ${length} bytes`)
      assert.strictEqual(state.ends, 0, "nothing after the end")
      const at = slot * set.slotBytes
      chunks.push(Buffer.from(set.bytes.subarray(at, at + length)))
      held.push(slot)
      received += length
      state.onDeliver(received)
    },
    end: (error) => {
      state.ends++
      state.error = error
    },
    flush: () => {
      state.flushes++
      if (state.recycling === "flush") recycle()
      else if (state.recycling === "late") setTimeout(recycle, 0)
    }
  }
  return {
    sink,
    state,
    held,
    recycle,
    chunks,
    received: () => received,
    bytes: () => Buffer.concat(chunks)
  }
}

export type Recorder = ReturnType<typeof recorder>

export const receive = (set: Slots, socket: NetSocket, sink: StreamSink): StreamReceiver => {
  const receiver = set.slots.receive(socket, sink)
  if (receiver instanceof Error) throw new Error(receiver.message)
  return receiver
}

/** A stream `driver` accepted from a new `node:net` client, receiving into `set` through a recorder. */
export const stream = (driver: Driver, server: NetSocket<SocketAddress>, set: Slots, recycling?: Recycling) =>
  Effect.map(connection(driver, server), ({ client, socket }) => {
    const record = recorder(set, recycling)
    return { client, socket, record, receiver: receive(set, socket, record.sink) }
  })

/** A driver, a listener, a set of `slots` slots of `slotBytes`, and one stream receiving into it. */
export const oneStream = (slotBytes: number, slots: number, recycling?: Recycling) =>
  Effect.gen(function*() {
    const driver = yield* LinuxDriver.make({ slots: 4 })
    const server = yield* listener(driver)
    const set = yield* openSlots(driver, slotBytes, slots)
    return { driver, server, set, ...yield* stream(driver, server, set, recycling) }
  })

/** Closes `receiver`, counting its `done` calls; closes the fd once done has run, as the core does. */
export const closeReceiver = (driver: Driver, receiver: StreamReceiver, socket: NetSocket) => {
  const closed = { done: 0 }
  receiver.close(() => {
    closed.done++
    driver.net!.close(socket)
  })
  return closed
}

export const closeSet = (set: Slots) => Effect.async<void>((resume) => set.slots.close(() => resume(Effect.void)))

/** Closes the streams' receivers (each fd once its close is done), then the set, as the core does. */
export const closeAll = (
  driver: Driver,
  set: Slots,
  ...streams: ReadonlyArray<{ readonly receiver: StreamReceiver; readonly socket: NetSocket }>
) =>
  Effect.gen(function*() {
    const closes = streams.map(({ receiver, socket }) => closeReceiver(driver, receiver, socket))
    yield* until(() => closes.every(({ done }) => done === 1), "the receivers' closes")
    yield* closeSet(set)
  })

export const write = (client: net.Socket, bytes: Uint8Array) =>
  Effect.async<void, Error>((resume) => {
    client.write(bytes, (error) => resume(error ? Effect.fail(error) : Effect.void))
  })

/** Gives every held slot back and from then on recycles on each flush, until `total` bytes arrived. */
export const drainAll = (record: Recorder, total: number) =>
  Effect.suspend(() => {
    record.state.recycling = "flush"
    record.recycle()
    return until(() => record.received() === total, "every byte")
  })
