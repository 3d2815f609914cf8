/**
 * Sockets over one backend's `NetDriver`: UDP, TCP streams and listeners whose operations
 * name `RioBuf` slices, checked against the service's registrations before any I/O.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { NetDriver, NetSocket } from "../Driver.js"
import type {
  ConnectOptions,
  ListenOptions,
  QueueOptions,
  SocketAddress,
  SocketError,
  TcpListener,
  TcpStream,
  UdpOptions,
  UdpSocket
} from "../RegisteredSocket.js"
import * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { checkDepth, invalid, parseAddress, show } from "./address.js"
import { addressesOf, tryNext } from "./lookup.js"
import { addressAttributes, SocketMetrics } from "./observability.js"
import { connectSettings, listenSettings, readOption, udpSettings, writeOption } from "./options.js"
import type { AllocateOwned, RegistrationImpl } from "./registration.js"
import { SliceImpl } from "./registration.js"
import { RequestQueue, Requests } from "./requests.js"
import type { SocketState } from "./requests.js"
import { checkStreamRing, StreamRing } from "./streamRing.js"
import { ListenerState, makeTcpStream, StreamState } from "./tcp.js"
import type { UdpContext } from "./udp.js"
import { checkRing, makeUdpSocket, UdpState } from "./udp.js"

const DEFAULT_BACKLOG = 511

/**
 * What the sockets need from the service: which registration a plain `RioBuf` names, and
 * memory of their own (a receive ring).
 */
export interface Registrations {
  readonly scopedRegistration: (id: number) => RegistrationImpl | undefined
  readonly unsafeAllocateOwned: AllocateOwned
}

/** Sockets over one backend's `NetDriver`, checked against the service's registrations. */
export class Sockets implements UdpContext {
  private readonly udpMetrics: SocketMetrics
  private readonly tcpMetrics: SocketMetrics
  /** Connects in flight belong to no socket yet. */
  private readonly connecting: Requests
  private readonly connectQueue = new RequestQueue(Number.MAX_SAFE_INTEGER)

  constructor(
    readonly net: NetDriver,
    private readonly registrations: Registrations,
    readonly backend: string,
    metricsEnabled: boolean
  ) {
    this.udpMetrics = new SocketMetrics(backend, "udp", metricsEnabled)
    this.tcpMetrics = new SocketMetrics(backend, "tcp", metricsEnabled)
    this.connecting = new Requests(this.tcpMetrics)
  }

  /** A span around a call that opens something, with the backend and the addresses it names. */
  private traced(name: string, transport: "udp" | "tcp", attributes: Record<string, unknown>) {
    return Effect.withSpan(name, {
      attributes: { "effect_rio.backend": this.backend, "network.transport": transport, ...attributes }
    })
  }

  /** Counts an open TCP stream until its scope closes (both steps or neither: no interruption between). */
  private trackConnection(state: StreamState): Effect.Effect<StreamState, never, Scope.Scope> {
    return Effect.uninterruptible(Effect.zipRight(
      Effect.addFinalizer(() => Effect.sync(() => this.tcpMetrics.connections(-1))),
      Effect.sync(() => {
        this.tcpMetrics.connections(1)
        return state
      })
    ))
  }

  readonly allocateOwned: AllocateOwned = (byteLength, policy) =>
    this.registrations.unsafeAllocateOwned(byteLength, policy)

  /**
   * The slice as the driver takes it. A slice made by a registration of this service is
   * used as it is; a plain `{ bufferId, offset, length }` is looked up by id.
   */
  readonly resolve = (operation: string, buf: RioBuf.RioBuf): SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT => {
    if (buf instanceof SliceImpl) {
      const registration = buf.registration
      if (buf.revoked) {
        return invalid(
          operation,
          `The slice [${buf.offset}, ${buf.offset + buf.length}) of registration ${registration.id} belongs to a ` +
            "lease that went back to its pool: the slot may be another fiber's now. Use a slice only while its " +
            "lease is held."
        )
      }
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
      // Winsock reports memory past the registration as a fault, not as a bad argument.
      return buf.offset + buf.length > registration.byteLength
        ? new RioError.WSAEFAULT({
          operation,
          message: `The RIO_BUF { offset: ${buf.offset}, length: ${buf.length} } runs past the end of registration ` +
            `${registration.id} (${registration.byteLength} bytes): the I/O would touch memory that is not ` +
            "registered. Make slices with the registration's slice(), which checks the range."
        })
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
      const badRing = checkRing(operation, options.receiveRing)
      if (badRing !== undefined) return Effect.fail(badRing)
      const settings = udpSettings(operation, options)
      if (!Array.isArray(settings)) return Effect.fail(settings)
      return Effect.flatMap(peerOf(operation, options.connect), (peer) => {
        // Connected without a host: the peer family's wildcard, as Node's implicit bind.
        const host = options.host ?? (peer === undefined ? undefined : peer.host.includes(":") ? "::" : "0.0.0.0")
        return Effect.flatMap(bindAddress(operation, host, options.port ?? 0), (bind) => {
          const socket = this.net.udp(bind, settings, peer)
          return socket instanceof Error
            ? Effect.fail(socket)
            : Effect.succeed(new UdpState(this.net, socket, options, this.udpMetrics))
        })
      })
    })).pipe(
      Effect.map((state) => makeUdpSocket(this, state)),
      (opened) => this.udpMetrics.counted(opened),
      this.traced("RegisteredSocket.udp", "udp", {
        // Connected without a host, the address is the peer family's wildcard, known after the lookup.
        ...(options.host === undefined && options.connect !== undefined
          ? {}
          : { "network.local.address": options.host ?? "127.0.0.1" }),
        "network.local.port": options.port ?? 0,
        ...(options.connect === undefined
          ? {}
          : { "server.address": options.connect.host, "server.port": options.connect.port })
      })
    )
  }

  connect(options: ConnectOptions): Effect.Effect<TcpStream, SocketError, Scope.Scope> {
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.connect"
      const bad = checkDepth(operation, options)
      if (bad !== undefined) return Effect.fail(bad)
      const port = options?.port
      const checked = parseAddress(operation, "127.0.0.1", port)
      if (checked instanceof Error) return Effect.fail(checked)
      if (port === 0) return Effect.fail(invalid(operation, "Port 0 is not a peer's port."))
      const badRing = checkStreamRing(operation, options.receiveRing)
      if (badRing !== undefined) return Effect.fail(badRing)
      const settings = connectSettings(operation, options)
      if (!Array.isArray(settings)) return Effect.fail(settings)
      const timeout = options.timeout === undefined ? undefined : Duration.decodeUnknown(options.timeout)
      if (timeout !== undefined && Option.isNone(timeout)) {
        return Effect.fail(invalid(operation, `timeout ${String(options.timeout)} is not a duration.`))
      }
      const attempt = (peer: SocketAddress) =>
        this.connecting.submit<NetSocket>(
          this.connectQueue,
          undefined,
          (done) => this.net.connect(peer, settings, done),
          (socket) => this.net.close(socket)
        )
      // Each address in turn, as Node does without autoSelectFamily's overlap: the last error wins.
      const firstThatConnects = (addresses: ReadonlyArray<string>, i: number): Effect.Effect<NetSocket, SocketError> =>
        Effect.catchIf(
          attempt({ host: addresses[i]!, port: checked.port }),
          (error) => i + 1 < addresses.length && tryNext(error),
          () => firstThatConnects(addresses, i + 1)
        )
      const connected = Effect.flatMap(
        addressesOf(operation, options?.host, options.lookup),
        (addresses) => firstThatConnects(addresses, 0)
      )
      return Effect.map(
        timeout === undefined ? connected : Effect.timeoutFail(connected, {
          duration: timeout.value,
          onTimeout: () =>
            new RioError.WSAETIMEDOUT({
              operation: `${operation} (${String(options.host)}:${checked.port})`,
              message: `No connection to ${String(options.host)} port ${checked.port} within ` +
                `${Duration.format(timeout.value)}: the attempt was cancelled and its socket closed.`
            })
        }),
        (socket) =>
          new StreamState(
            this.net,
            socket,
            options,
            new StreamRing(
              this.net,
              this.allocateOwned,
              `TCP stream ${show(socket.local)}`,
              options.receiveRing,
              false,
              this.tcpMetrics
            ),
            this.tcpMetrics
          )
      )
    })).pipe(
      Effect.flatMap((state) => this.trackConnection(state)),
      Effect.map((state) => makeTcpStream(this, state)),
      (opened) => this.tcpMetrics.counted(opened),
      this.traced("RegisteredSocket.connect", "tcp", { "server.address": options?.host, "server.port": options?.port })
    )
  }

  listen(options: ListenOptions): Effect.Effect<TcpListener, SocketError, Scope.Scope> {
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.listen"
      const bad = checkDepth(operation, options) ?? checkDepth(operation, options.accepted ?? {})
      if (bad !== undefined) return Effect.fail(bad)
      const backlog = options.backlog ?? DEFAULT_BACKLOG
      if (!(Number.isSafeInteger(backlog) && backlog > 0)) {
        return Effect.fail(invalid(operation, `backlog ${String(backlog)} is not a positive integer.`))
      }
      const badRing = checkStreamRing(operation, options.receiveRing)
      if (badRing !== undefined) return Effect.fail(badRing)
      const settings = listenSettings(operation, options)
      if (settings instanceof Error) return Effect.fail(settings)
      return Effect.flatMap(bindAddress(operation, options?.host, options?.port), (bind) => {
        const socket = this.net.listen(bind, backlog, settings.listener)
        if (socket instanceof Error) return Effect.fail(socket)
        const label = `the streams of TCP listener ${show(socket.local)}`
        const ring = new StreamRing(this.net, this.allocateOwned, label, options.receiveRing, true, this.tcpMetrics)
        return Effect.succeed(new ListenerState(this.net, socket, options, ring, this.tcpMetrics, settings.accepted))
      })
    })).pipe(
      Effect.map((state) => this.listener(state, options.accepted ?? options)),
      (opened) => this.tcpMetrics.counted(opened),
      this.traced("RegisteredSocket.listen", "tcp", {
        "network.local.address": options?.host ?? "127.0.0.1",
        "network.local.port": options?.port
      })
    )
  }

  private listener(state: ListenerState, accepted: QueueOptions): TcpListener {
    return {
      address: state.socket.local,
      option: (name) => this.tcpMetrics.counted(readOption(state, "tcp", name)),
      setOption: (name, value) => this.tcpMetrics.counted(writeOption(state, "tcp", name, value)),
      accept: this.scoped(Effect.map(
        state.submit<NetSocket>(
          state.receives,
          undefined,
          (done) => this.net.accept(state.socket, state.accepted, done),
          (socket) => this.net.close(socket)
        ),
        (socket) => new StreamState(this.net, socket, accepted, state.ring, this.tcpMetrics)
      )).pipe(
        Effect.flatMap((stream) => this.trackConnection(stream)),
        Effect.map((stream) => makeTcpStream(this, stream)),
        (opened) => this.tcpMetrics.counted(opened),
        Effect.tap((stream) => Effect.annotateCurrentSpan(addressAttributes("client", stream.remoteAddress))),
        this.traced("RegisteredSocket.accept", "tcp", addressAttributes("network.local", state.socket.local))
      )
    }
  }
}

/** Where to bind: `host` (default 127.0.0.1) as it is when numeric, else its first address. */
const bindAddress = (operation: string, host: unknown, port: unknown): Effect.Effect<SocketAddress, SocketError> => {
  const numeric = parseAddress(operation, host ?? "127.0.0.1", port)
  if (!(numeric instanceof Error)) return Effect.succeed(numeric)
  if (numeric._tag === "WSAEINVAL") return Effect.fail(numeric)
  return Effect.flatMap(addressesOf(operation, host, undefined), (addresses) => {
    const bind = parseAddress(operation, addresses[0], port)
    return bind instanceof Error ? Effect.fail(bind) : Effect.succeed(bind)
  })
}

/** A connected UDP socket's peer: numeric as it is, a name's first address; not port 0. */
const peerOf = (
  operation: string,
  connect: UdpOptions["connect"]
): Effect.Effect<SocketAddress | undefined, SocketError> => {
  if (connect === undefined) return Effect.succeed(undefined)
  if (typeof connect !== "object" || connect === null) {
    return Effect.fail(invalid(operation, "connect is not a { host, port } object."))
  }
  if (connect.port === 0) return Effect.fail(invalid(operation, "Port 0 is not a peer's port."))
  return bindAddress(operation, connect.host, connect.port)
}

/** For a driver without sockets. */
export const unavailable = (backend: string) =>
  new RioError.RioUnavailable({
    code: RioError.Codes.WSAEOPNOTSUPP,
    operation: "RegisteredSocket",
    message: `The "${backend}" backend has no sockets: its driver implements no \`net\`. Provide a backend ` +
      "layer whose driver has sockets."
  })
