/**
 * The byte streams of the double's TCP connections: what each end has buffered, send and
 * receive (short transfers under the `limitChunk` fault), half-close by shutdown, close, and
 * resets (injected by a test, or a close with unread data). How connections are made is
 * `tcp.ts`; receiving into shared slots as bytes arrive is `streamRings.ts`.
 */
import type { Done, NetDriverError, NetSocket, Pending, Region } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import type { ConnectionBytes } from "../RioTest.js"
import type { CompletionQueue, Waiter } from "./completions.js"
import { aborted, decided } from "./completions.js"
import type { Family } from "./ports.js"
import { show } from "./ports.js"

/** A receive waiting for bytes, and the slice they go to. */
interface Receiver extends Waiter<number> {
  readonly region: Region
}

/**
 * A receiver of an end's bytes other than its list of receives: a stream of shared receive
 * slots, which takes its bytes itself when it has a slot for them.
 */
export interface StreamWatcher {
  /** Bytes arrived or the stream ended (the receives waiting in the list were served first). */
  readonly wake: () => void
  /** The stream broke: `error` is what a receive waiting on it got. */
  readonly fail: (error: NetDriverError) => void
}

/** One end of a connection. */
export interface Connection {
  readonly kind: "connection"
  readonly socket: NetSocket
  readonly family: Family | "unix"
  /** Whether this end holds its local port in the table (the client end does; the server end shares the listener's). */
  readonly ownsPort: boolean
  peer: Connection | undefined
  /** Bytes the peer sent that this end has not read yet, in order. */
  readonly buffer: Array<Uint8Array>
  buffered: number
  readonly receivers: Array<Receiver>
  /** The stream of shared slots that this end's bytes go to, if it receives that way. */
  watcher: StreamWatcher | undefined
  readShut: boolean
  writeShut: boolean
  reset: boolean
  /** The peer's end of stream had arrived when the reset came: receives still end with 0 (Linux). */
  endedBeforeReset: boolean
  closed: boolean
  sent: number
  received: number
}

const makeConnection = (socket: NetSocket, family: Family | "unix", ownsPort: boolean): Connection => ({
  kind: "connection",
  socket,
  family,
  ownsPort,
  peer: undefined,
  buffer: [],
  buffered: 0,
  receivers: [],
  watcher: undefined,
  readShut: false,
  writeShut: false,
  reset: false,
  endedBeforeReset: false,
  closed: false,
  sent: 0,
  received: 0
})

export class Streams {
  private readonly connections = new Map<number, Connection>()
  /** The `limitChunk` fault: the most one send moves or one receive returns. */
  private chunk: number | undefined = undefined

  constructor(private readonly completions: CompletionQueue) {}

  /** Bytes sent and received by each end of every open connection. */
  get bytes(): ReadonlyArray<ConnectionBytes> {
    const result: Array<ConnectionBytes> = []
    for (const connection of this.connections.values()) {
      if (!connection.closed) {
        result.push({
          local: connection.socket.local,
          remote: connection.socket.remote!,
          sent: connection.sent,
          received: connection.received
        })
      }
    }
    return result
  }

  limitChunk(bytes: number | undefined): void {
    this.chunk = bytes
  }

  /** Resets every open connection (only those open now: later ones work). */
  resetAll(): void {
    for (const connection of this.connections.values()) {
      if (!connection.closed) this.reset(connection, "resetConnections")
    }
  }

  /** Two connected ends: the client's (which holds its own port) and the server's, not yet accepted. */
  open(
    family: Family | "unix",
    client: NetSocket,
    server: NetSocket
  ): { readonly client: Connection; readonly server: Connection } {
    // A Unix connection holds no port: its client end is unnamed.
    const clientEnd = makeConnection(client, family, family !== "unix")
    const serverEnd = makeConnection(server, family, false)
    clientEnd.peer = serverEnd
    serverEnd.peer = clientEnd
    this.connections.set(client.handle, clientEnd)
    this.connections.set(server.handle, serverEnd)
    return { client: clientEnd, server: serverEnd }
  }

  send(socket: NetSocket, region: Region, done: Done<number>): Pending {
    const request = this.completions.start(done)
    const connection = this.lookup(socket.handle, "send")
    if ("_tag" in connection) return this.completions.now(request, connection)
    if (connection.reset) return this.completions.now(request, connectionReset("send", connection, "it was reset"))
    if (connection.writeShut) {
      return this.completions.now(
        request,
        new RioError.WSAESHUTDOWN({
          operation: "send",
          message: `Socket ${show(socket.local)} was shut down for writing; nothing more can be sent on ` +
            "it. Send everything before shutdown(\"write\")."
        })
      )
    }
    const peer = connection.peer
    if (peer === undefined || peer.closed) {
      return this.completions.now(request, connectionReset("send", connection, "the peer closed it"))
    }
    const n = Math.min(region.length, this.chunk ?? region.length)
    // A receiver that shut down reading discards what arrives, as the kernel does.
    if (!peer.readShut) {
      peer.buffer.push(region.memory.slice(region.offset, region.offset + n))
      peer.buffered += n
    }
    connection.sent += n
    this.completions.settle(request, n)
    // Bytes for an end that shut down both ways cannot be delivered: Linux answers them with a
    // reset, which the sender meets on its next operation (Winsock resets already for an end
    // that shut down reading only).
    if (peer.readShut && peer.writeShut) this.reset(connection, "the peer had shut down both ways")
    this.pump(peer)
    return decided
  }

  receive(socket: NetSocket, region: Region, done: Done<number>): Pending {
    const request = this.completions.start(done)
    const connection = this.lookup(socket.handle, "receive")
    if ("_tag" in connection) return this.completions.now(request, connection)
    if (connection.reset) {
      return this.completions.now(
        request,
        connection.endedBeforeReset ? 0 : connectionReset("receive", connection, "it was reset")
      )
    }
    connection.receivers.push({ request, region })
    this.pump(connection)
    return this.completions.wait(request, connection.receivers, "receive")
  }

  shutdown(socket: NetSocket, how: "read" | "write" | "both"): NetDriverError | undefined {
    const connection = this.lookup(socket.handle, "shutdown")
    if ("_tag" in connection) return connection
    // The kernels refuse a shutdown once the connection is over (ENOTCONN, WSAENOTCONN): reset,
    // or both sides' ends of stream exchanged (the socket has left the connected states).
    const peer = connection.peer
    const peerEnded = peer === undefined || peer.closed || peer.writeShut
    if (connection.reset || (connection.writeShut && peerEnded)) {
      return new RioError.WSAENOTCONN({
        operation: "shutdown",
        message:
          `shutdown: the stream is not connected (${connection.reset ? "it was reset" : "both sides ended it"}); ` +
          "close it."
      })
    }
    if (how !== "read") {
      connection.writeShut = true
      if (connection.peer !== undefined) this.pump(connection.peer)
    }
    if (how !== "write") {
      connection.readShut = true
      connection.buffer.length = 0
      connection.buffered = 0
      this.pump(connection)
    }
    return undefined
  }

  /** Closes the end if it is one of these, and returns it (its port, if it holds one, is the caller's). */
  close(handle: number): Connection | undefined {
    const connection = this.connections.get(handle)
    if (connection === undefined) return undefined
    this.connections.delete(handle)
    for (const receiver of connection.receivers.splice(0)) {
      this.completions.settle(receiver.request, aborted("receive"))
    }
    // The core closes a stream's slots before its socket; if not, they end like a waiting receive.
    connection.watcher?.fail(aborted("receive"))
    // Closing with unread bytes is abortive in real stacks (RST, not FIN): the peer sees a reset.
    if (connection.buffered > 0 && !connection.reset) this.reset(connection, "the peer closed with unread data")
    connection.closed = true
    if (connection.peer !== undefined) this.pump(connection.peer)
    return connection
  }

  /** Resets and forgets an end the application never saw (a connection its listener did not accept). */
  discard(connection: Connection, why: string): void {
    this.reset(connection, why)
    connection.closed = true
    this.connections.delete(connection.socket.handle)
  }

  /** The open end with socket `handle`, or the error `call` reports for a handle that is none. */
  lookup(handle: number, call: string): Connection | NetDriverError {
    return this.connections.get(handle) ??
      new RioError.WSAEINVAL({ operation: call, message: `Socket ${handle} is not a TCP connection of this double.` })
  }

  private reset(connection: Connection, why: string): void {
    for (const end of [connection, connection.peer]) {
      if (end === undefined || end.closed || end.reset) continue
      end.endedBeforeReset = this.ended(end) && end.buffered === 0
      end.reset = true
      end.buffer.length = 0
      end.buffered = 0
      for (const receiver of end.receivers.splice(0)) {
        this.completions.settle(receiver.request, connectionReset("receive", end, why))
      }
      if (end.endedBeforeReset) end.watcher?.wake()
      else end.watcher?.fail(connectionReset("receive", end, why))
    }
  }

  /** Serves waiting receives from the buffer, then with 0 once the stream has ended; then its watcher. */
  private pump(connection: Connection): void {
    while (connection.receivers.length > 0) {
      if (connection.buffered > 0) {
        const receiver = connection.receivers.shift()!
        const region = receiver.region
        this.completions.settle(receiver.request, this.take(connection, region.memory, region.offset, region.length))
      } else if (this.ended(connection)) {
        const receiver = connection.receivers.shift()!
        this.completions.settle(receiver.request, 0)
      } else {
        break
      }
    }
    connection.watcher?.wake()
  }

  /** Whether nothing more arrives after what is buffered: the peer finished, or this end stopped reading. */
  ended(connection: Connection): boolean {
    const peer = connection.peer
    return connection.readShut || peer === undefined || peer.closed || peer.writeShut
  }

  /**
   * Moves buffered bytes into `memory` at `at`: as many as fit in `room`, at most one chunk
   * under `limitChunk`.
   */
  take(connection: Connection, memory: Uint8Array, at: number, room: number): number {
    const wanted = Math.min(room, this.chunk ?? room, connection.buffered)
    let copied = 0
    while (copied < wanted) {
      const head = connection.buffer[0]
      const n = Math.min(head.length, wanted - copied)
      memory.set(head.subarray(0, n), at + copied)
      copied += n
      if (n === head.length) connection.buffer.shift()
      else connection.buffer[0] = head.subarray(n)
    }
    connection.buffered -= copied
    connection.received += copied
    return copied
  }
}

export const connectionReset = (call: string, connection: Connection, why: string): RioError.WSAECONNRESET =>
  new RioError.WSAECONNRESET({
    operation: call,
    message: `The connection ${show(connection.socket.local)} -> ${show(connection.socket.remote!)} was reset ` +
      `(${why}). Close the socket and reconnect.`
  })
