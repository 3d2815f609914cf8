/**
 * How the double's TCP connections are made: listening sockets and their backlog, connect
 * (refused where nothing listens or the backlog is full) and accept, and the TCP port table.
 * What a connection carries once made is `streams.ts`.
 */
import type { Done, NetDriverError, NetSocket, Pending } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import type { CompletionQueue, Waiter } from "./completions.js"
import { aborted, decided } from "./completions.js"
import type { Family } from "./ports.js"
import { familyOf, loopback, PortTable, show } from "./ports.js"
import type { Connection, Streams } from "./streams.js"

interface Listener {
  readonly kind: "listener"
  readonly socket: NetSocket
  readonly family: Family
  readonly backlog: number
  /** Connections made that the application has not accepted yet: at most `backlog`. */
  readonly unaccepted: Array<Connection>
  readonly accepts: Array<Waiter<NetSocket>>
}

export class Tcp {
  private readonly listeners = new Map<number, Listener>()
  /** Listeners, and the client ends of connections (a server end shares its listener's port). */
  private readonly ports = new PortTable<Listener | Connection>("tcp")

  constructor(
    private readonly completions: CompletionQueue,
    private readonly streams: Streams,
    private readonly nextHandle: () => number
  ) {}

  listen(bind: SocketAddress, backlog: number): NetSocket | NetDriverError {
    const bound = this.ports.bind(bind, "listen")
    if ("_tag" in bound) return bound
    const handle = this.nextHandle()
    const socket: NetSocket = { handle, local: { host: bind.host, port: bound.port }, remote: undefined }
    const listener: Listener = {
      kind: "listener",
      socket,
      family: bound.family,
      backlog: Math.max(1, backlog),
      unaccepted: [],
      accepts: []
    }
    this.listeners.set(handle, listener)
    this.ports.hold(bound, listener)
    return socket
  }

  connect(peer: SocketAddress, done: Done<NetSocket>): Pending {
    const request = this.completions.start(done)
    const family = familyOf(peer.host)
    if (family === undefined) {
      return this.completions.now(
        request,
        new RioError.WSAEADDRNOTAVAIL({
          operation: "ConnectEx",
          message: `Cannot reach ${show(peer)}: the simulated network is loopback-only. ` +
            `Connect to "127.0.0.1" or "::1".`
        })
      )
    }
    const listener = this.ports.get(family, peer.port)
    if (listener === undefined || listener.kind !== "listener") {
      return this.completions.now(
        request,
        new RioError.WSAECONNREFUSED({
          operation: "ConnectEx",
          message: `Nothing listens at ${show(peer)}. Start the listener first, or check the port.`
        })
      )
    }
    if (listener.accepts.length === 0 && listener.unaccepted.length >= listener.backlog) {
      return this.completions.now(
        request,
        new RioError.WSAECONNREFUSED({
          operation: "ConnectEx",
          message: `The listener at ${show(peer)} has ${listener.backlog} connections waiting to be ` +
            "accepted (its backlog is full). Accept faster or listen with a larger backlog."
        })
      )
    }
    const bound = this.ports.bind({ host: loopback[family], port: 0 }, "ConnectEx")
    if ("_tag" in bound) return this.completions.now(request, bound)
    const clientLocal = { host: loopback[family], port: bound.port }
    const serverLocal = { host: loopback[family], port: peer.port }
    const { client, server } = this.streams.open(
      family,
      { handle: this.nextHandle(), local: clientLocal, remote: serverLocal },
      { handle: this.nextHandle(), local: serverLocal, remote: clientLocal }
    )
    this.ports.hold(bound, client)
    this.completions.settle(request, client.socket)
    const accept = listener.accepts.shift()
    if (accept === undefined) listener.unaccepted.push(server)
    else this.completions.settle(accept.request, server.socket)
    return decided
  }

  accept(socket: NetSocket, done: Done<NetSocket>): Pending {
    const request = this.completions.start(done)
    const listener = this.listeners.get(socket.handle)
    if (listener === undefined) {
      return this.completions.now(
        request,
        new RioError.WSAEINVAL({
          operation: "AcceptEx",
          message: `Socket ${socket.handle} is not a listener of this double.`
        })
      )
    }
    const connection = listener.unaccepted.shift()
    if (connection !== undefined) return this.completions.now(request, connection.socket)
    listener.accepts.push({ request })
    return this.completions.wait(request, listener.accepts, "AcceptEx")
  }

  /** Closes the listener or connection end if it is one of these. */
  close(handle: number): void {
    const listener = this.listeners.get(handle)
    if (listener === undefined) {
      const connection = this.streams.close(handle)
      if (connection?.ownsPort) this.ports.release(connection.family, connection.socket.local.port)
      return
    }
    this.listeners.delete(handle)
    this.ports.release(listener.family, listener.socket.local.port)
    for (const accept of listener.accepts.splice(0)) this.completions.settle(accept.request, aborted("AcceptEx"))
    // Connections the application never accepted are reset by the kernel.
    for (const connection of listener.unaccepted.splice(0)) {
      this.streams.discard(connection, "its listener was closed before accepting it")
    }
  }
}
