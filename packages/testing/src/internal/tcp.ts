/**
 * How the double's stream connections are made: listening sockets and their backlog, connect
 * and accept, the TCP port table and the Unix domain socket paths. A TCP connect is refused
 * where nothing listens or the backlog is full; a Unix one waits for room in a full backlog,
 * as Linux's does. What a connection carries once made is `streams.ts`.
 */
import type { Done, NetDriverError, NetSocket, OptionSettings, Pending } from "@effect-rio/core/Driver"
import type { SocketAddress, UnixAddress } from "@effect-rio/core/RegisteredSocket"
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
  /** Its port, or a Unix listener's path. */
  readonly bound: Bound | string
  readonly backlog: number
  /** Connections made that the application has not accepted yet: at most `backlog`. */
  readonly unaccepted: Array<Connection>
  readonly accepts: Array<Waiter<NetSocket>>
  /** Unix connects waiting for room in the backlog. */
  readonly connects: Array<UnixConnect>
}

/** A Unix connect waiting for room in a listener's backlog. */
interface UnixConnect extends Waiter<NetSocket<UnixAddress>> {
  readonly settings: OptionSettings
}

export class Tcp {
  private readonly listeners = new Map<number, Listener>()
  /** Listeners, and the client ends of connections (a server end shares its listener's port). */
  private readonly ports = new PortTable<Listener | Connection>("tcp")
  /** The paths Unix listeners hold: the double has no file system, so a path exists while held. */
  private readonly paths = new Map<string, Listener>()

  constructor(
    private readonly completions: CompletionQueue,
    private readonly streams: Streams,
    private readonly nextHandle: () => number,
    private readonly options: SocketOptions
  ) {}

  listen(bind: SocketAddress, backlog: number, settings: OptionSettings): NetSocket<SocketAddress> | NetDriverError {
    const bound = this.ports.bind(bind, "listen", bindFlags(settings))
    if ("_tag" in bound) return bound
    const handle = this.nextHandle()
    const socket = { handle, local: { host: bind.host, port: bound.port }, remote: undefined }
    const listener = this.listener(socket, bound, backlog)
    this.ports.hold(bound, listener)
    // A listener reuses its address by default, as the Linux driver's do.
    this.options.open(handle, "tcp", socket.local, [["reuseAddress", 1], ...settings])
    return socket
  }

  private listener(socket: NetSocket, bound: Bound | string, backlog: number): Listener {
    const listener: Listener = {
      kind: "listener",
      socket,
      bound,
      backlog: Math.max(1, backlog),
      unaccepted: [],
      accepts: [],
      connects: []
    }
    this.listeners.set(socket.handle, listener)
    return listener
  }

  listenUnix(path: string, backlog: number, settings: OptionSettings): NetSocket<UnixAddress> | NetDriverError {
    if (this.paths.has(path)) {
      return new RioError.WSAEADDRINUSE({
        operation: "bind",
        message: `The path ${path} is in use by another Unix socket. Close it first, or remove a stale path.`
      })
    }
    const socket = { handle: this.nextHandle(), local: { path }, remote: undefined }
    this.paths.set(path, this.listener(socket, path, backlog))
    this.options.open(socket.handle, "unix", socket.local, settings)
    return socket
  }

  /** Connects to the Unix listener at `path`, once its backlog has room. */
  connectUnix(path: string, settings: OptionSettings, done: Done<NetSocket<UnixAddress>>): Pending {
    const request = this.completions.start(done)
    const listener = this.paths.get(path)
    if (listener === undefined) {
      return this.completions.now(
        request,
        new RioError.WSAECONNREFUSED({ operation: "connect", message: `Nothing listens at ${path}.` })
      )
    }
    const connect = { request, settings }
    if (listener.accepts.length === 0 && listener.unaccepted.length >= listener.backlog) {
      listener.connects.push(connect)
      return this.completions.wait(request, listener.connects, "connect")
    }
    this.admit(listener, connect)
    return decided
  }

  /** Makes a waiting Unix connect's connection: the client end to its request, the server end to an accept. */
  private admit(listener: Listener, connect: UnixConnect): void {
    const { client, server } = this.streams.open(
      "unix",
      { handle: this.nextHandle(), local: { path: "" }, remote: listener.socket.local },
      { handle: this.nextHandle(), local: listener.socket.local, remote: { path: "" } }
    )
    this.options.open(client.socket.handle, "unix", client.socket.local, connect.settings)
    this.completions.settle(connect.request, client.socket as NetSocket<UnixAddress>)
    this.arrived(listener, server)
  }

  /** A connection made to `listener`: to the first accept waiting, else into its backlog. */
  private arrived(listener: Listener, server: Connection): void {
    const accept = listener.accepts.shift()
    if (accept === undefined) listener.unaccepted.push(server)
    else this.completions.settle(accept.request, server.socket)
  }

  /** Connects to the listener at `peer` (of listeners sharing its port, each in turn). */
  connect(peer: SocketAddress, settings: OptionSettings, done: Done<NetSocket<SocketAddress>>): Pending {
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
    const serverSees = seenBy(family, (listener.bound as Bound).family)
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
    this.completions.settle(request, client.socket as NetSocket<SocketAddress>)
    this.arrived(listener, server)
    return decided
  }

  accept(socket: NetSocket, settings: OptionSettings, done: Done<NetSocket>): Pending {
    // An accepted stream starts with its listener's buffer sizes, as a kernel's does.
    const inherited: OptionSettings = [
      ["receiveBufferSize", this.options.get(socket.handle, "receiveBufferSize")],
      ["sendBufferSize", this.options.get(socket.handle, "sendBufferSize")]
    ]
    const request = this.completions.start<NetSocket>((result) => {
      if (!(result instanceof Error)) {
        this.options.open(result.handle, "path" in result.local ? "unix" : "tcp", result.local, [
          ...inherited,
          ...settings
        ])
      }
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
    if (connection !== undefined) {
      // Room in the backlog again: a Unix connect waiting for it goes in.
      const waiting = listener.connects.shift()
      if (waiting !== undefined) this.admit(listener, waiting)
      return this.completions.now(request, connection.socket)
    }
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
      if (connection.ownsPort && connection.family !== "unix") {
        const bound = {
          family: connection.family,
          port: (connection.socket.local as SocketAddress).port,
          dualStack: false,
          shareable: false
        }
        this.ports.release(bound, connection)
      }
      return
    }
    this.listeners.delete(handle)
    this.options.close(handle)
    // A Unix listener's path goes with it, as a Node server's does.
    if (typeof listener.bound === "string") this.paths.delete(listener.bound)
    else this.ports.release(listener.bound, listener)
    for (const accept of listener.accepts.splice(0)) this.completions.settle(accept.request, aborted("AcceptEx"))
    for (const connect of listener.connects.splice(0)) {
      this.completions.settle(
        connect.request,
        new RioError.WSAECONNREFUSED({ operation: "connect", message: "The listener closed before accepting it." })
      )
    }
    // Connections the application never accepted are reset by the kernel.
    for (const connection of listener.unaccepted.splice(0)) {
      this.streams.discard(connection, "its listener was closed before accepting it")
    }
  }
}
