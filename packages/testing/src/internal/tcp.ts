/**
 * How the double's TCP connections are made: listening sockets and their backlog, connect
 * (refused where nothing listens or the backlog is full) and accept, and the TCP port table.
 * What a connection carries once made is `streams.ts`.
 */
import type { Done, NetDriverError, NetSocket, OptionSettings, Pending } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import type { CompletionQueue, Waiter } from "./completions.js"
import { aborted, decided } from "./completions.js"
import type { Bound } from "./ports.js"
import { loopback, PortTable, routeOf, seenBy, show } from "./ports.js"
import type { SocketOptions } from "./socketOptions.js"
import { bindFlags } from "./socketOptions.js"
import type { Connection, Streams } from "./streams.js"

interface Listener {
  readonly kind: "listener"
  readonly socket: NetSocket
  readonly bound: Bound
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
    private readonly nextHandle: () => number,
    private readonly options: SocketOptions
  ) {}

  listen(bind: SocketAddress, backlog: number, settings: OptionSettings): NetSocket | NetDriverError {
    const bound = this.ports.bind(bind, "listen", bindFlags(settings))
    if ("_tag" in bound) return bound
    const handle = this.nextHandle()
    const socket: NetSocket = { handle, local: { host: bind.host, port: bound.port }, remote: undefined }
    const listener: Listener = {
      kind: "listener",
      socket,
      bound,
      backlog: Math.max(1, backlog),
      unaccepted: [],
      accepts: []
    }
    this.listeners.set(handle, listener)
    this.ports.hold(bound, listener)
    // A listener reuses its address by default, as the Linux driver's do.
    this.options.open(handle, "tcp", socket.local, [["reuseAddress", 1], ...settings])
    return socket
  }

  /** Connects to the listener at `peer` (of listeners sharing its port, each in turn). */
  connect(peer: SocketAddress, settings: OptionSettings, done: Done<NetSocket>): Pending {
    const request = this.completions.start(done)
    // The family the connection runs in: IPv4 for the IPv4-mapped loopback too.
    const family = routeOf(peer.host)
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
    // Each end shows IPv4 as its own socket's family does: an IPv6 socket (the client that
    // dialled "::ffff:127.0.0.1", a dual-stack listener's streams) sees it IPv4-mapped.
    const clientSees = seenBy(family, peer.host.includes(":") ? "v6" : "v4")
    const serverSees = seenBy(family, listener.bound.family)
    const { client, server } = this.streams.open(
      family,
      {
        handle: this.nextHandle(),
        local: { host: clientSees, port: bound.port },
        remote: { host: clientSees, port: peer.port }
      },
      {
        handle: this.nextHandle(),
        local: { host: serverSees, port: peer.port },
        remote: { host: serverSees, port: bound.port }
      }
    )
    this.ports.hold(bound, client)
    this.options.open(client.socket.handle, "tcp", client.socket.local, settings)
    this.completions.settle(request, client.socket)
    const accept = listener.accepts.shift()
    if (accept === undefined) listener.unaccepted.push(server)
    else this.completions.settle(accept.request, server.socket)
    return decided
  }

  accept(socket: NetSocket, settings: OptionSettings, done: Done<NetSocket>): Pending {
    // An accepted stream starts with its listener's buffer sizes, as a kernel's does.
    const inherited: OptionSettings = [
      ["receiveBufferSize", this.options.get(socket.handle, "receiveBufferSize")],
      ["sendBufferSize", this.options.get(socket.handle, "sendBufferSize")]
    ]
    const request = this.completions.start<NetSocket>((result) => {
      if (!(result instanceof Error)) this.options.open(result.handle, "tcp", result.local, [...inherited, ...settings])
      done(result)
    })
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
      if (connection === undefined) return
      this.options.close(handle)
      if (connection.ownsPort) {
        const bound = {
          family: connection.family,
          port: connection.socket.local.port,
          dualStack: false,
          shareable: false
        }
        this.ports.release(bound, connection)
      }
      return
    }
    this.listeners.delete(handle)
    this.options.close(handle)
    this.ports.release(listener.bound, listener)
    for (const accept of listener.accepts.splice(0)) this.completions.settle(accept.request, aborted("AcceptEx"))
    // Connections the application never accepted are reset by the kernel.
    for (const connection of listener.unaccepted.splice(0)) {
      this.streams.discard(connection, "its listener was closed before accepting it")
    }
  }
}
