/**
 * The double's loopback-only network, assembled into the core's `NetDriver`: one completion
 * queue that every request finishes through, socket handles unique across UDP and TCP, and
 * the faults and inspection that `RioTest.Control` reaches through the double.
 */
import type { NetDriver } from "@effect-rio/core/Driver"
import type { ConnectionBytes } from "../RioTest.js"
import { CompletionQueue } from "./completions.js"
import { SocketOptions } from "./socketOptions.js"
import * as StreamRings from "./streamRings.js"
import { Streams } from "./streams.js"
import { Tcp } from "./tcp.js"
import { Udp } from "./udp.js"

export class Network {
  private readonly completions: CompletionQueue
  private readonly udp: Udp
  private readonly streams: Streams
  readonly driver: NetDriver

  constructor(completionQueueSize: number) {
    let lastHandle = 0
    const nextHandle = () => ++lastHandle
    const completions = this.completions = new CompletionQueue(completionQueueSize)
    const options = new SocketOptions()
    const udp = this.udp = new Udp(completions, nextHandle, options)
    const streams = this.streams = new Streams(completions)
    const tcp = new Tcp(completions, streams, nextHandle, options)
    this.driver = {
      udp: (bind, settings, peer) => udp.open(bind, settings, peer),
      listen: (bind, backlog, settings) => tcp.listen(bind, backlog, settings),
      connect: (peer, settings, done) => tcp.connect(peer, settings, done),
      accept: (listener, settings, done) => tcp.accept(listener, settings, done),
      unix: {
        listen: (path, backlog, settings) => tcp.listenUnix(path, backlog, settings),
        connect: (path, settings, done) => tcp.connectUnix(path, settings, done)
      },
      setOption: (socket, name, value) => options.set(socket.handle, name, value),
      getOption: (socket, name) => options.get(socket.handle, name),
      membership: (socket, group, _iface, join) => udp.membership(socket, group, join),
      send: (socket, region, done) => streams.send(socket, region, done),
      receive: (socket, region, done) => streams.receive(socket, region, done),
      sendTo: (socket, region, peer, done) => udp.sendTo(socket, region, peer, done),
      receiveFrom: (socket, region, done) => udp.receiveFrom(socket, region, done),
      shutdown: (socket, how) => streams.shutdown(socket, how),
      tcpReceiveRings: StreamRings.make(completions, streams),
      // Handles are unique across protocols: only the module that owns this one acts.
      close: (socket) => {
        udp.close(socket.handle)
        tcp.close(socket.handle)
      }
    }
  }

  /** Requests started whose `done` has not run yet. */
  get outstandingOperations(): number {
    return this.completions.outstanding
  }

  get datagramsInFlight(): number {
    return this.udp.inFlight
  }

  get connectionBytes(): ReadonlyArray<ConnectionBytes> {
    return this.streams.bytes
  }

  dropDatagrams(n: number): void {
    this.udp.drop(n)
  }

  duplicateDatagrams(n: number): void {
    this.udp.duplicate(n)
  }

  reorderDatagrams(n: number): void {
    this.udp.reorder(n)
  }

  delayDatagrams(n: number, ms: number): void {
    this.udp.delay(n, ms)
  }

  limitChunk(bytes: number | undefined): void {
    this.streams.limitChunk(bytes)
  }

  resetConnections(): void {
    this.streams.resetAll()
  }

  /** Clears every network fault; nothing already sent is lost by it. */
  resetFaults(): void {
    this.udp.clearFaults()
    this.streams.limitChunk(undefined)
  }
}
