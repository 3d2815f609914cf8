/**
 * The parts of network.test.ts: the double's sockets opened, sent to and received from
 * through its driver directly, each request tracked to its `done`.
 */
import type { Done, NetDriver, NetDriverError, NetSocket as AnySocket, Pending, Region } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import { assert } from "@effect/vitest"
import type { Double } from "../src/internal/double.js"

/** The double's IP sockets: these tests open no Unix domain socket. */
export type NetSocket = AnySocket<SocketAddress>

export const region = (memory: Uint8Array, offset = 0, length = memory.length - offset): Region => ({
  bufferId: 0 as any,
  offset,
  length,
  base: 0,
  memory
})

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
export const text = (memory: Uint8Array, offset: number, length: number): string =>
  new TextDecoder().decode(memory.subarray(offset, offset + length))

/** Lets every microtask and zero-delay timer run, so that all queued completions are delivered. */
export const flush = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

export interface Tracked<A> {
  readonly pending: Pending
  readonly result: Promise<A | NetDriverError>
  /** How many times `done` ran, and whether once inside the call that started it or inside cancel. */
  readonly calls: () => number
  readonly synchronous: () => boolean
}

/** Starts an operation and watches its `done`: how often it runs and whether it ran synchronously. */
export const track = <A>(start: (done: Done<A>) => Pending): Tracked<A> => {
  let calls = 0
  let inside = true
  let synchronous = false
  let resolve!: (result: A | NetDriverError) => void
  const result = new Promise<A | NetDriverError>((r) => {
    resolve = r
  })
  const pending = start((outcome) => {
    calls++
    if (inside) synchronous = true
    resolve(outcome)
  })
  inside = false
  return {
    pending: {
      cancel: () => {
        inside = true
        pending.cancel()
        inside = false
      }
    },
    result,
    calls: () => calls,
    synchronous: () => synchronous
  }
}

export const isError = (value: unknown): value is NetDriverError =>
  typeof value === "object" && value !== null && "_tag" in value

export const ok = <A>(value: A | NetDriverError): A => {
  if (isError(value)) assert.fail(`expected success, got ${value._tag}: ${value.message}`)
  return value as A
}

export const tagOf = (value: unknown): string | undefined => (isError(value) ? value._tag : undefined)

export const any4 = { host: "127.0.0.1", port: 0 }

export const udp = (net: NetDriver, bind: SocketAddress = any4): NetSocket => ok(net.udp(bind, []))

export const sendTo = (net: NetDriver, socket: NetSocket, payload: Uint8Array, peer: SocketAddress) =>
  track<number>((done) => net.sendTo(socket, region(payload), peer, done)).result

export const receiveFrom = (net: NetDriver, socket: NetSocket, memory: Uint8Array, offset = 0, length?: number) =>
  track<{ readonly length: number; readonly address: SocketAddress }>((done) =>
    net.receiveFrom(socket, region(memory, offset, length), done)
  )

/** A listener and a connected pair: `client` from connect, `server` from accept. */
export const connected = async (net: NetDriver) => {
  const listener = ok(net.listen(any4, 8, []))
  const client = ok(await track<NetSocket>((done) => net.connect(listener.local, [], done)).result)
  // An IP listener's streams have IP addresses.
  const server = ok(await track<AnySocket>((done) => net.accept(listener, [], done)).result) as NetSocket
  return { listener, client, server }
}

export const send = (net: NetDriver, socket: NetSocket, memory: Uint8Array, offset = 0, length?: number) =>
  track<number>((done) => net.send(socket, region(memory, offset, length), done)).result

export const receive = (net: NetDriver, socket: NetSocket, memory: Uint8Array, offset = 0, length?: number) =>
  track<number>((done) => net.receive(socket, region(memory, offset, length), done))

/** Receives single-byte datagrams until none is queued, as a list of their bytes. */
export const drainDatagrams = async (double: Double, socket: NetSocket): Promise<Array<number>> => {
  const net = double.driver.net!
  const seen: Array<number> = []
  while (double.network.datagramsInFlight > 0) {
    const memory = new Uint8Array(1)
    ok(await receiveFrom(net, socket, memory).result)
    seen.push(memory[0])
  }
  return seen
}
