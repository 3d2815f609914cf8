/**
 * Sockets over one backend's `NetDriver`: UDP, TCP streams and listeners whose operations
 * name `RioBuf` slices, checked against the service's registrations before any I/O.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import type { Done, NetDriver, NetSocket, OptionSettings, Pending } from "../Driver.js"
import type {
  ConnectOptions,
  ListenOptions,
  QueueOptions,
  SocketAddress,
  SocketError,
  TcpListener,
  TcpStream,
  UdpOptions,
  UdpSocket,
  UnixAddress
} from "../RegisteredSocket.js"
import type * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import type { UnixConnectOptions, UnixListenOptions } from "../SocketOptions.js"
import { checkDepth, invalid, parseAddress, parsePath, show } from "./address.js"
import { addressesOf, tryNext } from "./lookup.js"
import type { Protocol } from "./observability.js"
import { addressAttributes, SocketMetrics } from "./observability.js"
import { connectSettings, listenSettings, readOption, udpSettings, unixSettings, writeOption } from "./options.js"
import type { AllocateOwned, RegistrationImpl, SliceImpl } from "./registration.js"
import { RequestQueue, Requests } from "./requests.js"
import type { SocketState } from "./requests.js"
import { resolveSlice } from "./slices.js"
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
  private readonly unixMetrics: SocketMetrics
  /** Connects in flight belong to no socket yet: TCP's, and Unix domain sockets'. */
  private readonly connecting: Requests
  private readonly connectingUnix: Requests
  private readonly connectQueue = new RequestQueue(Number.MAX_SAFE_INTEGER)

  constructor(
    readonly net: NetDriver,
    private readonly registrations: Registrations,
    readonly backend: string,
    metricsEnabled: boolean
  ) {
    this.udpMetrics = new SocketMetrics(backend, "udp", metricsEnabled)
    this.tcpMetrics = new SocketMetrics(backend, "tcp", metricsEnabled)
    this.unixMetrics = new SocketMetrics(backend, "unix", metricsEnabled)
    this.connecting = new Requests(this.tcpMetrics)
    this.connectingUnix = new Requests(this.unixMetrics)
  }

  /** A span around a call that opens something, with the backend and the addresses it names. */
  private traced(name: string, transport: Protocol, attributes: Record<string, unknown>) {
    return Effect.withSpan(name, {
      attributes: { "effect_rio.backend": this.backend, "network.transport": transport, ...attributes }
    })
  }

  /** Counts an open TCP stream until its scope closes (both steps or neither: no interruption between). */
  private trackConnection(state: StreamState): Effect.Effect<StreamState, never, Scope.Scope> {
    return Effect.uninterruptible(Effect.zipRight(
      Effect.addFinalizer(() => Effect.sync(() => state.metrics.connections(-1))),
      Effect.sync(() => {
        state.metrics.connections(1)
        return state
      })
    ))
  }

  readonly allocateOwned: AllocateOwned = (byteLength, policy) =>
    this.registrations.unsafeAllocateOwned(byteLength, policy)

  /** The slice as the driver takes it (see `resolveSlice`). */
  readonly resolve = (operation: string, buf: RioBuf.RioBuf): SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT =>
    resolveSlice(this.registrations, operation, buf)

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

  connect(
    options: ConnectOptions | UnixConnectOptions
  ): Effect.Effect<TcpStream<SocketAddress | UnixAddress>, SocketError, Scope.Scope> {
    const path = pathOf(options)
    const metrics = path === undefined ? this.tcpMetrics : this.unixMetrics
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.connect"
      const bad = checkDepth(operation, options) ?? checkStreamRing(operation, options.receiveRing)
      if (bad !== undefined) return Effect.fail(bad)
      const timeout = options.timeout === undefined ? undefined : Duration.decodeUnknown(options.timeout)
      if (timeout !== undefined && Option.isNone(timeout)) {
        return Effect.fail(invalid(operation, `timeout ${String(options.timeout)} is not a duration.`))
      }
      const attempt = path === undefined
        ? this.connectIp(operation, options as ConnectOptions)
        : this.connectUnix(operation, options as UnixConnectOptions)
      if (attempt instanceof Error) return Effect.fail(attempt)
      return Effect.map(
        timeout === undefined ? attempt.connected : Effect.timeoutFail(attempt.connected, {
          duration: timeout.value,
          onTimeout: () =>
            new RioError.WSAETIMEDOUT({
              operation: `${operation} (${attempt.label})`,
              message: `No connection to ${attempt.target} within ${Duration.format(timeout.value)}: the attempt ` +
                "was cancelled and its socket closed."
            })
        }),
        (socket) => {
          const label = `${path === undefined ? "TCP" : "Unix"} stream ${show(socket.local)}`
          const ring = new StreamRing(this.net, this.allocateOwned, label, options.receiveRing, false, metrics)
          return new StreamState(this.net, socket, options, ring, metrics)
        }
      )
    })).pipe(
      Effect.flatMap((state) => this.trackConnection(state)),
      Effect.map((state) => makeTcpStream(this, state)),
      (opened) => metrics.counted(opened),
      this.traced(
        "RegisteredSocket.connect",
        metrics.protocol,
        path === undefined
          ? { "server.address": (options as ConnectOptions)?.host, "server.port": (options as ConnectOptions)?.port }
          : { "server.address": path }
      )
    )
  }

  /** A connect by host and port: each address of the host in turn, as Node does. */
  private connectIp(operation: string, options: ConnectOptions): Attempt | SocketError {
    const port = options?.port
    const checked = parseAddress(operation, "127.0.0.1", port)
    if (checked instanceof Error) return checked
    if (port === 0) return invalid(operation, "Port 0 is not a peer's port.")
    const settings = connectSettings(operation, options)
    if (!Array.isArray(settings)) return settings
    const attempt = (peer: SocketAddress) =>
      this.submitConnect(this.connecting, (done) => this.net.connect(peer, settings, done))
    // Each address in turn, as Node does without autoSelectFamily's overlap: the last error wins.
    const firstThatConnects = (addresses: ReadonlyArray<string>, i: number): Effect.Effect<NetSocket, SocketError> =>
      Effect.catchIf(
        attempt({ host: addresses[i]!, port: checked.port }),
        (error) => i + 1 < addresses.length && tryNext(error),
        () => firstThatConnects(addresses, i + 1)
      )
    return {
      connected: Effect.flatMap(
        addressesOf(operation, options?.host, options.lookup),
        (addresses) => firstThatConnects(addresses, 0)
      ),
      label: `${String(options.host)}:${checked.port}`,
      target: `${String(options.host)} port ${checked.port}`
    }
  }

  /** A connect to a Unix domain listener's path. */
  private connectUnix(operation: string, options: UnixConnectOptions): Attempt | SocketError {
    const path = parsePath(operation, options.path)
    if (path instanceof Error) return path
    const mixed = mixedTarget(operation, options)
    if (mixed !== undefined) return mixed
    const settings = unixSettings(operation, options)
    if (!Array.isArray(settings)) return settings
    const unix = this.net.unix
    if (unix === undefined) return noUnixSockets(this.backend, operation)
    return {
      connected: this.submitConnect(this.connectingUnix, (done) => unix.connect(path, settings, done)),
      label: path,
      target: path
    }
  }

  /** A connect in flight belongs to no socket yet; its socket is closed if it completes after interruption. */
  private submitConnect(
    requests: Requests,
    start: (done: Done<NetSocket>) => Pending
  ): Effect.Effect<NetSocket, SocketError> {
    return requests.submit<NetSocket>(this.connectQueue, undefined, start, (socket) => this.net.close(socket))
  }

  listen(
    options: ListenOptions | UnixListenOptions
  ): Effect.Effect<TcpListener<SocketAddress | UnixAddress>, SocketError, Scope.Scope> {
    const path = pathOf(options)
    const metrics = path === undefined ? this.tcpMetrics : this.unixMetrics
    return this.scoped(Effect.suspend(() => {
      const operation = "RegisteredSocket.listen"
      const bad = checkDepth(operation, options) ?? checkDepth(operation, options.accepted ?? {}) ??
        checkStreamRing(operation, options.receiveRing)
      if (bad !== undefined) return Effect.fail(bad)
      const backlog = options.backlog ?? DEFAULT_BACKLOG
      if (!(Number.isSafeInteger(backlog) && backlog > 0)) {
        return Effect.fail(invalid(operation, `backlog ${String(backlog)} is not a positive integer.`))
      }
      const listening = path === undefined
        ? this.listenIp(operation, options as ListenOptions, backlog)
        : this.listenUnix(operation, options as UnixListenOptions, backlog)
      return Effect.map(listening, ({ accepted, socket }) => {
        const label = `the streams of ${path === undefined ? "TCP" : "Unix"} listener ${show(socket.local)}`
        const ring = new StreamRing(this.net, this.allocateOwned, label, options.receiveRing, true, metrics)
        return new ListenerState(this.net, socket, options, ring, metrics, accepted)
      })
    })).pipe(
      Effect.map((state) => this.listener(state, options.accepted ?? options)),
      (opened) => metrics.counted(opened),
      this.traced(
        "RegisteredSocket.listen",
        metrics.protocol,
        path === undefined
          ? {
            "network.local.address": (options as ListenOptions)?.host ?? "127.0.0.1",
            "network.local.port": (options as ListenOptions)?.port
          }
          : { "network.local.address": path }
      )
    )
  }

  private listenIp(operation: string, options: ListenOptions, backlog: number): Effect.Effect<Listening, SocketError> {
    const settings = listenSettings(operation, options)
    if (settings instanceof Error) return Effect.fail(settings)
    return Effect.flatMap(bindAddress(operation, options?.host, options?.port), (bind) => {
      const socket = this.net.listen(bind, backlog, settings.listener)
      return socket instanceof Error ? Effect.fail(socket) : Effect.succeed({ socket, accepted: settings.accepted })
    })
  }

  private listenUnix(
    operation: string,
    options: UnixListenOptions,
    backlog: number
  ): Effect.Effect<Listening, SocketError> {
    const path = parsePath(operation, options.path)
    if (path instanceof Error) return Effect.fail(path)
    const mixed = mixedTarget(operation, options)
    if (mixed !== undefined) return Effect.fail(mixed)
    const settings = unixSettings(operation, options)
    if (!Array.isArray(settings)) return Effect.fail(settings)
    if (this.net.unix === undefined) return Effect.fail(noUnixSockets(this.backend, operation))
    const socket = this.net.unix.listen(path, backlog, settings)
    // Linux makes an accepted Unix stream with the system's buffer sizes, not the listener's
    // (unlike TCP): each accept applies them again.
    return socket instanceof Error ? Effect.fail(socket) : Effect.succeed({ socket, accepted: settings })
  }

  private listener(state: ListenerState, accepted: QueueOptions): TcpListener<SocketAddress | UnixAddress> {
    const { metrics } = state
    return {
      address: state.socket.local,
      option: (name) => metrics.counted(readOption(state, metrics.protocol, name)),
      setOption: (name, value) => metrics.counted(writeOption(state, metrics.protocol, name, value)),
      accept: this.scoped(Effect.map(
        state.submit<NetSocket>(
          state.receives,
          undefined,
          (done) => this.net.accept(state.socket, state.accepted, done),
          (socket) => this.net.close(socket)
        ),
        (socket) => new StreamState(this.net, socket, accepted, state.ring, metrics)
      )).pipe(
        Effect.flatMap((stream) => this.trackConnection(stream)),
        Effect.map((stream) => makeTcpStream(this, stream)),
        (opened) => metrics.counted(opened),
        Effect.tap((stream) => Effect.annotateCurrentSpan(addressAttributes("client", stream.remoteAddress))),
        this.traced("RegisteredSocket.accept", metrics.protocol, addressAttributes("network.local", state.socket.local))
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

/** A connect's socket in the making, and how its timeout names the target. */
interface Attempt {
  readonly connected: Effect.Effect<NetSocket, SocketError>
  readonly label: string
  readonly target: string
}

/** A listening socket, and the options each stream it accepts gets. */
interface Listening {
  readonly socket: NetSocket
  readonly accepted: OptionSettings
}

/** The path of options that name one (a Unix domain socket), else `undefined`. */
const pathOf = (options: unknown): unknown =>
  typeof options === "object" && options !== null && "path" in options ? options.path : undefined

/** A path beside a host or port is ambiguous: refused, not guessed. */
const mixedTarget = (operation: string, options: object): RioError.WSAEINVAL | undefined =>
  ("host" in options && options.host !== undefined) || ("port" in options && options.port !== undefined)
    ? invalid(operation, "Give either path (a Unix domain socket) or host and port (TCP), not both.")
    : undefined

/** For a driver without Unix domain sockets. */
const noUnixSockets = (backend: string, operation: string) =>
  new RioError.RioUnavailable({
    code: RioError.Codes.WSAEOPNOTSUPP,
    operation,
    message: `The "${backend}" backend has no Unix domain sockets: registered I/O runs on its TCP and UDP ` +
      "sockets only (Winsock RIO). Use TCP on the loopback there, or the io_uring backend or the test double."
  })

/** For a driver without sockets. */
export const unavailable = (backend: string) =>
  new RioError.RioUnavailable({
    code: RioError.Codes.WSAEOPNOTSUPP,
    operation: "RegisteredSocket",
    message: `The "${backend}" backend has no sockets: its driver implements no \`net\`. Provide a backend ` +
      "layer whose driver has sockets."
  })
