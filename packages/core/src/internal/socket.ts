import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { isIP } from "node:net"
import type { Done, NetDriver, NetDriverError, NetSocket, Pending, SocketAddress } from "../Driver.js"
import type {
  ConnectOptions,
  Datagram,
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
import type { RegistrationImpl } from "./registration.js"
import { SliceImpl } from "./registration.js"

const DEFAULT_DEPTH = 64
const DEFAULT_BACKLOG = 511

/** What the network needs from the service: which registration a plain `RioBuf` names. */
export interface Registrations {
  readonly scopedRegistration: (id: number) => RegistrationImpl | undefined
}

// --- request queues --------------------------------------------------------------------

/**
 * A socket's request queue in one direction: at most `depth` operations in the kernel; the
 * rest wait in FIFO order. Waiting is backpressure, never an error.
 */
class RequestQueue {
  private active = 0
  private readonly waiters: Array<() => void> = []

  constructor(readonly depth: number) {}

  /** Runs `begin` now if there is room, or when a place is handed over (in order). */
  enter(begin: () => void): void {
    if (this.active < this.depth) {
      this.active++
      begin()
    } else {
      this.waiters.push(begin)
    }
  }

  /** Leaves the line without having entered; false if `begin` already got its place. */
  withdraw(begin: () => void): boolean {
    const index = this.waiters.indexOf(begin)
    if (index < 0) return false
    this.waiters.splice(index, 1)
    return true
  }

  leave(): void {
    // The place passes straight to the next in line, so no one can barge in.
    const next = this.waiters.shift()
    if (next !== undefined) next()
    else this.active--
  }

  /** Lets every waiter in, for a closing socket: each then fails and leaves. */
  flush(): void {
    for (const begin of this.waiters.splice(0)) {
      this.active++
      begin()
    }
  }
}

// --- operations ----------------------------------------------------------------------------

/** One operation: waiting for a place, then in the kernel until its `done` runs. */
class Operation {
  pending: Pending | undefined = undefined
  settled = false
  /** Set when the waiting fiber was interrupted: the canceller waits for the completion. */
  onSettled: (() => void) | undefined = undefined
}

/**
 * Operations in the kernel, so that closing can abort them and wait for their
 * completions. Each holds a token on its slice's registration until its completion has
 * been consumed.
 */
class Operations {
  closed = false
  private readonly live = new Set<Operation>()
  private drained: (() => void) | undefined = undefined

  private settle(operation: Operation): void {
    this.live.delete(operation)
    if (this.live.size === 0 && this.drained !== undefined) {
      const resume = this.drained
      this.drained = undefined
      resume()
    }
  }

  /**
   * Runs `start` in the kernel as one operation of `queue`. Interruption while waiting for a
   * place leaves the line; interruption in the kernel cancels the operation and waits for its
   * completion. A result that arrives for an interrupted operation goes to `abandon` (a
   * connected socket must still be closed).
   */
  operate<A>(
    queue: RequestQueue,
    slice: SliceImpl | undefined,
    start: (done: Done<A>) => Pending,
    abandon?: (value: A) => void
  ): Effect.Effect<A, SocketError> {
    return Effect.async<A, SocketError>((resume) => {
      if (this.closed) return resume(Effect.fail(aborted("the socket is closed")))
      const operation = new Operation()
      const registration = slice?.registration
      const begin = () => {
        const refused = this.closed ? aborted("the socket is closed") : registration?.unsafeAcquireToken()
        if (refused !== undefined) {
          queue.leave()
          return resume(Effect.fail(refused))
        }
        this.live.add(operation)
        operation.pending = start((result) => {
          operation.settled = true
          registration?.unsafeReleaseToken()
          queue.leave()
          this.settle(operation)
          if (operation.onSettled !== undefined) {
            if (abandon !== undefined && !(result instanceof Error)) abandon(result as A)
            return operation.onSettled()
          }
          resume(result instanceof Error ? Effect.fail(result as NetDriverError) : Effect.succeed(result as A))
        })
      }
      queue.enter(begin)
      return Effect.async<void>((settled) => {
        if (operation.pending === undefined) {
          queue.withdraw(begin)
          return settled(Effect.void)
        }
        if (operation.settled) return settled(Effect.void)
        operation.onSettled = () => settled(Effect.void)
        operation.pending.cancel()
      })
    })
  }

  /** Refuses new operations, aborts those in the kernel and waits for their completions. */
  abort(queues: ReadonlyArray<RequestQueue>): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      for (const queue of queues) queue.flush()
      if (this.live.size === 0) return Effect.void
      for (const operation of this.live) operation.pending!.cancel()
      return Effect.async<void>((resume) => {
        this.drained = () => resume(Effect.void)
      })
    })
  }
}

/** A socket with its request queues; closing aborts what it has in the kernel, then closes it. */
class SocketState extends Operations {
  writeShut = false
  readonly sends: RequestQueue
  readonly receives: RequestQueue

  constructor(readonly net: NetDriver, readonly socket: NetSocket, queues: QueueOptions | undefined) {
    super()
    this.sends = new RequestQueue(queues?.maxOutstandingSends ?? DEFAULT_DEPTH)
    this.receives = new RequestQueue(queues?.maxOutstandingReceives ?? DEFAULT_DEPTH)
  }

  readonly close: Effect.Effect<void> = Effect.suspend(() =>
    this.closed
      ? Effect.void
      : Effect.zipRight(this.abort([this.sends, this.receives]), Effect.sync(() => this.net.close(this.socket)))
  )
}

const aborted = (why: string) =>
  new RioError.WSAECONNABORTED({ operation: "socket", message: `The operation was aborted: ${why}.` })

// --- validation ------------------------------------------------------------------------------

const invalid = (operation: string, message: string) => new RioError.WSAEINVAL({ operation, message })

/** The address as the drivers take it: a numeric host, an integer port. */
export const parseAddress = (
  operation: string,
  host: unknown,
  port: unknown
): SocketAddress | RioError.WSAEINVAL | RioError.WSAEADDRNOTAVAIL => {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    return invalid(operation, `Port ${String(port)} is not an integer in 0..65535.`)
  }
  const numeric = host === "localhost" ? "127.0.0.1" : host
  if (typeof numeric !== "string" || isIP(numeric) === 0) {
    return new RioError.WSAEADDRNOTAVAIL({
      operation,
      message: `Host ${JSON.stringify(host)} is not a numeric IPv4 or IPv6 address (or "localhost"): ` +
        "resolve names first, for example with node:dns."
    })
  }
  return { host: numeric, port }
}

const checkDepth = (operation: string, queues: QueueOptions): RioError.WSAEINVAL | undefined => {
  const check = (name: string, value: number | undefined) =>
    value === undefined || (Number.isSafeInteger(value) && value > 0)
      ? undefined
      : invalid(operation, `${name} ${String(value)} is not a positive integer.`)
  return check("maxOutstandingSends", queues.maxOutstandingSends) ??
    check("maxOutstandingReceives", queues.maxOutstandingReceives)
}

/** Addresses drivers reported as datagram senders: valid by construction. */
const senders = new WeakSet<SocketAddress>()

// --- the network ------------------------------------------------------------------------------

/** Sockets over one backend's `NetDriver`, checked against the service's registrations. */
export class Network {
  constructor(readonly net: NetDriver, private readonly registrations: Registrations) {}

  /**
   * The slice as the driver takes it. A slice made by a registration of this service is
   * used as it is; a plain `{ bufferId, offset, length }` is looked up by id.
   */
  private resolve(operation: string, buf: RioBuf.RioBuf): SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT {
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
      const socket = this.net.udp(bind)
      if (socket instanceof Error) return Effect.fail(socket)
      return Effect.succeed(new SocketState(this.net, socket, options))
    })).pipe(Effect.map((state) => this.udpSocket(state)))
  }

  private udpSocket(state: SocketState): UdpSocket {
    const { net, socket } = state
    return {
      address: socket.local,
      sendTo: (buf, to) =>
        Effect.suspend(() => {
          const slice = this.resolve("RIOSendEx", buf)
          if (slice instanceof Error) return Effect.fail(slice)
          // A datagram's sender, as its driver reported it, needs no parsing: replies are the hot path.
          const peer = senders.has(to) ? to : parseAddress("RIOSendEx", to?.host, to?.port)
          if (peer instanceof Error) return Effect.fail(peer)
          return state.operate<number>(state.sends, slice, (done) => net.sendTo(socket, slice, peer, done))
        }),
      receiveFrom: (buf) =>
        Effect.suspend(() => {
          const slice = this.resolve("RIOReceiveEx", buf)
          if (slice instanceof Error) return Effect.fail(slice)
          return state.operate<Datagram>(state.receives, slice, (done) =>
            net.receiveFrom(socket, slice, (result) => {
              if (!(result instanceof Error)) senders.add(result.address)
              done(result)
            }))
        })
    }
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
        this.connecting.operate<NetSocket>(
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
  private readonly connecting = new Operations()
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
        state.operate<NetSocket>(
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
        return state.operate<number>(state.sends, slice, (done) => net.send(socket, slice, done))
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
          return state.operate<number>(state.receives, slice, (done) => net.receive(socket, slice, done))
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
    message: `The "${backend}" backend has no sockets: use KoffiRio.layer (io_uring or Winsock RIO) or RioTest.layer().`
  })
