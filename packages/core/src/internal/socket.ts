/**
 * Sockets over one backend's `NetDriver`: UDP, TCP streams and listeners whose operations
 * name `RioBuf` slices, checked against the service's registrations before any I/O.
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { NetDriver, NetSocket } from "../Driver.js"
import type {
  ConnectOptions,
  ListenOptions,
  QueueOptions,
  SocketError,
  TcpListener,
  TcpStream,
  UdpOptions,
  UdpSocket
} from "../RegisteredSocket.js"
import * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { checkDepth, invalid, parseAddress } from "./address.js"
import type { RegistrationImpl } from "./registration.js"
import { SliceImpl } from "./registration.js"
import { aborted, RequestQueue, Requests, SocketState } from "./requests.js"
import type { UdpContext } from "./udp.js"
import { checkRing, makeUdpSocket, UdpState } from "./udp.js"

const DEFAULT_BACKLOG = 511

/**
 * What the sockets need from the service: which registration a plain `RioBuf` names, and
 * memory of their own (a receive ring).
 */
export interface Registrations {
  readonly scopedRegistration: (id: number) => RegistrationImpl | undefined
  readonly unsafeAllocateOwned: UdpContext["allocateOwned"]
}

/** Sockets over one backend's `NetDriver`, checked against the service's registrations. */
export class Sockets implements UdpContext {
  constructor(readonly net: NetDriver, private readonly registrations: Registrations) {}

  readonly allocateOwned: UdpContext["allocateOwned"] = (byteLength, policy) =>
    this.registrations.unsafeAllocateOwned(byteLength, policy)

  /**
   * The slice as the driver takes it. A slice made by a registration of this service is
   * used as it is; a plain `{ bufferId, offset, length }` is looked up by id.
   */
  readonly resolve = (operation: string, buf: RioBuf.RioBuf): SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT => {
    if (buf instanceof SliceImpl) {
      const registration = buf.registration
      if (this.registrations.scopedRegistration(registration.id) !== registration) {
        return invalid(
          operation,
          `The slice belongs to registration ${registration.id} of another backend, or to one already released: ` +
            "slice a live registration of this layer."
        )
      }
      return buf
    }
    if (typeof buf !== "object" || buf === null) return invalid(operation, "The RIO_BUF is not a RioBuf.")
    const registration = this.registrations.scopedRegistration(buf.bufferId)
    if (registration === undefined) {
      return invalid(
        operation,
        `Buffer id ${String(buf.bufferId)} is not a live scoped registration of this layer (never was, or released).`
      )
    }
    const valid = RioBuf.validate(registration, buf.offset, buf.length)
    if (valid instanceof RioError.WSAEINVAL) {
      return buf.offset + buf.length > registration.byteLength
        ? new RioError.WSAEFAULT({ operation, message: valid.message })
        : valid
    }
    return new SliceImpl(registration, buf.offset, buf.length)
  }

  private scoped<A extends SocketState>(
    open: Effect.Effect<A, SocketError>
  ): Effect.Effect<A, SocketError, Scope.Scope> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        Effect.scope,
        (scope) => Effect.tap(restore(open), (state) => Scope.addFinalizer(scope, state.close))
      )
    )
  }

  udp(options: UdpOptions): Effect.Effect<UdpSocket, SocketError, Scope.Scope> {
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.udp"
      const bad = checkDepth(operation, options)
      if (bad !== undefined) return Effect.fail(bad)
      const bind = parseAddress(operation, options.host ?? "127.0.0.1", options.port ?? 0)
      if (bind instanceof Error) return Effect.fail(bind)
      const badRing = checkRing(operation, options.receiveRing)
      if (badRing !== undefined) return Effect.fail(badRing)
      const socket = this.net.udp(bind)
      if (socket instanceof Error) return Effect.fail(socket)
      return Effect.succeed(new UdpState(this.net, socket, options))
    })).pipe(Effect.map((state) => makeUdpSocket(this, state)))
  }

  connect(options: ConnectOptions): Effect.Effect<TcpStream, SocketError, Scope.Scope> {
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.connect"
      const bad = checkDepth(operation, options)
      if (bad !== undefined) return Effect.fail(bad)
      const peer = parseAddress(operation, options?.host, options?.port)
      if (peer instanceof Error) return Effect.fail(peer)
      if (peer.port === 0) return Effect.fail(invalid(operation, "Port 0 is not a peer's port."))
      return Effect.map(
        this.connecting.submit<NetSocket>(
          this.connectQueue,
          undefined,
          (done) => this.net.connect(peer, done),
          (socket) => this.net.close(socket)
        ),
        (socket) => new SocketState(this.net, socket, options)
      )
    })).pipe(Effect.map((state) => this.tcpStream(state)))
  }

  /** Connects in flight belong to no socket yet. */
  private readonly connecting = new Requests()
  private readonly connectQueue = new RequestQueue(Number.MAX_SAFE_INTEGER)

  listen(options: ListenOptions): Effect.Effect<TcpListener, SocketError, Scope.Scope> {
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.listen"
      const bad = checkDepth(operation, options) ?? checkDepth(operation, options.accepted ?? {})
      if (bad !== undefined) return Effect.fail(bad)
      const backlog = options.backlog ?? DEFAULT_BACKLOG
      if (!(Number.isSafeInteger(backlog) && backlog > 0)) {
        return Effect.fail(invalid(operation, `backlog ${String(backlog)} is not a positive integer.`))
      }
      const bind = parseAddress(operation, options?.host ?? "127.0.0.1", options?.port)
      if (bind instanceof Error) return Effect.fail(bind)
      const socket = this.net.listen(bind, backlog)
      if (socket instanceof Error) return Effect.fail(socket)
      return Effect.succeed(new SocketState(this.net, socket, options))
    })).pipe(Effect.map((state) => this.listener(state, options.accepted ?? options)))
  }

  private listener(state: SocketState, accepted: QueueOptions): TcpListener {
    return {
      address: state.socket.local,
      accept: this.scoped(Effect.map(
        state.submit<NetSocket>(
          state.receives,
          undefined,
          (done) => this.net.accept(state.socket, done),
          (socket) => this.net.close(socket)
        ),
        (socket) => new SocketState(this.net, socket, accepted)
      )).pipe(Effect.map((stream) => this.tcpStream(stream)))
    }
  }

  private tcpStream(state: SocketState): TcpStream {
    const { net, socket } = state
    const send = (operation: string, buf: RioBuf.RioBuf): Effect.Effect<number, SocketError> =>
      Effect.suspend(() => {
        const slice = this.resolve(operation, buf)
        if (slice instanceof Error) return Effect.fail(slice)
        if (state.writeShut) {
          return Effect.fail(
            new RioError.WSAESHUTDOWN({ operation, message: "This stream was shut down for writing: no more sends." })
          )
        }
        return state.submit<number>(state.sends, slice, (done) => net.send(socket, slice, done))
      })
    const sendAll = (buf: RioBuf.RioBuf): Effect.Effect<void, SocketError> =>
      Effect.suspend(() => {
        const slice = this.resolve("RIOSend", buf)
        if (slice instanceof Error) return Effect.fail(slice)
        const loop = (sent: number): Effect.Effect<void, SocketError> =>
          sent === slice.length
            ? Effect.void
            : Effect.flatMap(
              send("RIOSend", sent === 0 ? slice : slice.sub(sent, slice.length - sent)),
              (n) => loop(sent + n)
            )
        return loop(0)
      })
    return {
      localAddress: socket.local,
      remoteAddress: socket.remote!,
      send: (buf) => send("RIOSend", buf),
      sendAll,
      receive: (buf) =>
        Effect.suspend(() => {
          const slice = this.resolve("RIOReceive", buf)
          if (slice instanceof Error) return Effect.fail(slice)
          return state.submit<number>(state.receives, slice, (done) => net.receive(socket, slice, done))
        }),
      shutdown: (how = "write") =>
        Effect.suspend(() => {
          if (how !== "read" && how !== "write" && how !== "both") {
            return Effect.fail(invalid("shutdown", `how ${JSON.stringify(how)} is not "read", "write" or "both".`))
          }
          if (state.closed) return Effect.fail(aborted("the socket is closed"))
          const error = net.shutdown(socket, how)
          if (error !== undefined) return Effect.fail(error)
          if (how !== "read") state.writeShut = true
          return Effect.void
        })
    }
  }
}

/** For a driver without sockets. */
export const unavailable = (backend: string) =>
  new RioError.RioUnavailable({
    code: RioError.Codes.WSAEOPNOTSUPP,
    operation: "RegisteredSocket",
    message: `The "${backend}" backend has no sockets: its driver implements no \`net\`. Provide a backend ` +
      "layer whose driver has sockets."
  })
