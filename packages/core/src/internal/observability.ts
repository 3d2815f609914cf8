/**
 * What an operator sees of the library: metrics and the attributes of the spans around the
 * calls that open something (a registration, a socket, a connection).
 *
 * Metrics are updated where something begins or ends, and traffic at most once per batch —
 * never once per message: per message the data path only adds to plain numbers, which reach
 * the metrics once per event-loop turn (see `SocketMetrics`).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type { SocketAddress, UnixAddress } from "../RegisteredSocket.js"

/** A counter that only goes up (an OpenTelemetry monotonic sum: Prometheus names it `…_total`). */
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

const gauge = (name: string, description: string) => Metric.gauge(name, { description })

export const metrics = {
  registrations: gauge(
    "effect_rio_registrations",
    "Live buffer registrations (pools, receive rings and staging buffers included), per backend"
  ),
  registeredBytes: gauge("effect_rio_registered_bytes", "Bytes of the live buffer registrations, per backend"),
  connectionsOpen: gauge("effect_rio_socket_connections_open", "Open TCP streams (connected or accepted), per backend"),
  operationsInFlight: gauge(
    "effect_rio_socket_operations_in_flight",
    "Socket requests in the kernel: single operations, send batches and chains, waits for room, " +
      "connects and accepts (a receive ring counts as none)"
  ),
  bytesSent: counter("effect_rio_socket_bytes_sent", "Bytes the kernel took to send"),
  bytesReceived: counter("effect_rio_socket_bytes_received", "Bytes received"),
  messagesSent: counter("effect_rio_socket_messages_sent", "Datagrams sent (UDP); slices sent whole (TCP)"),
  messagesReceived: counter(
    "effect_rio_socket_messages_received",
    "Datagrams received (UDP); chunks received, one per completed receive (TCP)"
  ),
  errors: counter("effect_rio_socket_errors", "Socket operations that failed, tagged `error` with the error's _tag"),
  receiveRingEmpty: counter(
    "effect_rio_socket_receive_ring_empty",
    "Times a receive ring ran out of slots: every slot held by data not yet given back"
  ),
  completionBatchSize: Metric.histogram(
    "effect_rio_completion_batch_size",
    MetricBoundaries.exponential({ start: 1, factor: 2, count: 10 }),
    "Receive completions one socket took from one batch of completions (one reap of the completion queue)"
  )
}

/** A registration made (`1`) or released (`-1`), with its bytes; no tags when metrics are off. */
export const countRegistration = (
  tags: ReadonlyArray<MetricLabel.MetricLabel> | undefined,
  sign: 1 | -1,
  bytes: number
): void => {
  if (tags === undefined) return
  metrics.registrations.unsafeModify(sign, tags)
  metrics.registeredBytes.unsafeModify(sign * bytes, tags)
}

/** A socket's protocol as metrics and spans name it: a Unix domain stream is `unix`. */
export type Protocol = "udp" | "tcp" | "unix"

/** The `backend` tag (and `protocol`, for sockets) of every metric. */
export const tagsOf = (backend: string, protocol?: Protocol): ReadonlyArray<MetricLabel.MetricLabel> =>
  protocol === undefined
    ? [MetricLabel.make("backend", backend)]
    : [MetricLabel.make("backend", backend), MetricLabel.make("protocol", protocol)]

/**
 * The socket metrics of one backend and protocol. Traffic and operations in flight are added
 * to plain numbers and published once per event-loop turn (a turn handles every completion of
 * one reap, so a busy server pays a handful of metric updates per turn, not per message): a
 * reader sees them at most one turn late. The histogram takes one observation per batch;
 * errors, empty rings and connections are rare and go straight through. Each tag set is one
 * array made once, so that an update finds its metric in Effect's cache by identity;
 * `enabled: false` makes every method return at once (the off switch).
 */
export class SocketMetrics {
  readonly tags: ReadonlyArray<MetricLabel.MetricLabel>
  private readonly errorTags = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  private messagesSent = 0
  private bytesSent = 0
  private messagesReceived = 0
  private bytesReceived = 0
  private inFlightDelta = 0
  private scheduled = false

  constructor(backend: string, readonly protocol: Protocol, readonly enabled: boolean) {
    this.tags = tagsOf(backend, protocol)
  }

  sent(messages: number, bytes: number): void {
    if (!this.enabled || (messages === 0 && bytes === 0)) return
    this.messagesSent += messages
    this.bytesSent += bytes
    this.schedule()
  }

  received(messages: number, bytes: number): void {
    if (!this.enabled || messages === 0) return
    this.messagesReceived += messages
    this.bytesReceived += bytes
    this.schedule()
  }

  /** What one socket took from one batch of completions. */
  receivedBatch(messages: number, bytes: number): void {
    if (!this.enabled || messages === 0) return
    this.received(messages, bytes)
    metrics.completionBatchSize.unsafeUpdate(messages, this.tags)
  }

  ringEmpty(): void {
    if (this.enabled) metrics.receiveRingEmpty.unsafeUpdate(1, this.tags)
  }

  inFlight(delta: number): void {
    if (!this.enabled) return
    this.inFlightDelta += delta
    this.schedule()
  }

  connections(delta: number): void {
    if (this.enabled) metrics.connectionsOpen.unsafeModify(delta, this.tags)
  }

  /** Counts a failed operation under its error's `_tag`. */
  readonly failed = (error: { readonly _tag: string }): void => {
    if (!this.enabled) return
    let tags = this.errorTags.get(error._tag)
    if (tags === undefined) {
      tags = [...this.tags, MetricLabel.make("error", error._tag)]
      this.errorTags.set(error._tag, tags)
    }
    metrics.errors.unsafeUpdate(1, tags)
  }

  /** `effect`, its failure counted (the cause kept whole): one step per call, no closure. */
  counted<A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return this.enabled ? Effect.tapError(effect, this.countFailure) : effect
  }

  private readonly countFailure = (error: { readonly _tag: string }): Effect.Effect<void> =>
    Effect.sync(() => this.failed(error))

  /** `Effect.fail(error)`, counted. */
  readonly fail = <E extends { readonly _tag: string }>(error: E): Effect.Effect<never, E> => {
    this.failed(error)
    return Effect.fail(error)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.publish)
  }

  /** What this turn added, into the metrics. */
  private readonly publish = (): void => {
    this.scheduled = false
    const tags = this.tags
    if (this.messagesSent > 0 || this.bytesSent > 0) {
      metrics.messagesSent.unsafeUpdate(this.messagesSent, tags)
      metrics.bytesSent.unsafeUpdate(this.bytesSent, tags)
      this.messagesSent = this.bytesSent = 0
    }
    if (this.messagesReceived > 0) {
      metrics.messagesReceived.unsafeUpdate(this.messagesReceived, tags)
      metrics.bytesReceived.unsafeUpdate(this.bytesReceived, tags)
      this.messagesReceived = this.bytesReceived = 0
    }
    if (this.inFlightDelta !== 0) {
      metrics.operationsInFlight.unsafeModify(this.inFlightDelta, tags)
      this.inFlightDelta = 0
    }
  }
}

/**
 * Span attributes of an address, in OpenTelemetry's names (`prefix` is `server`, `client` or
 * `network.local`); a Unix socket's address is its path.
 */
export const addressAttributes = (
  prefix: string,
  address: SocketAddress | UnixAddress | undefined
): Record<string, unknown> =>
  address === undefined
    ? {}
    : "path" in address
    ? { [`${prefix}.address`]: address.path }
    : { [`${prefix}.address`]: address.host, [`${prefix}.port`]: address.port }
