/**
 * What an operator sees of the library: metrics updated where a registration or a connection
 * begins and ends — never per message — and the attributes of the spans around the calls that
 * open something (a registration, a socket, a connection).
 */
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type { SocketAddress } from "../RegisteredSocket.js"

export const metrics = {
  registrations: Metric.gauge("effect_rio_registrations", {
    description: "Live buffer registrations (pools, receive rings and staging buffers included), per backend"
  }),
  registeredBytes: Metric.gauge("effect_rio_registered_bytes", {
    description: "Bytes of the live buffer registrations, per backend"
  }),
  connectionsOpen: Metric.gauge("effect_rio_socket_connections_open", {
    description: "Open TCP streams (connected or accepted), per backend"
  })
}

/** A registration made (`1`) or released (`-1`), with its bytes. */
export const countRegistration = (tags: ReadonlyArray<MetricLabel.MetricLabel>, sign: 1 | -1, bytes: number): void => {
  metrics.registrations.unsafeModify(sign, tags)
  metrics.registeredBytes.unsafeModify(sign * bytes, tags)
}

/** The `backend` tag (and `protocol`, for sockets) of every metric. */
export const tagsOf = (backend: string, protocol?: "udp" | "tcp"): ReadonlyArray<MetricLabel.MetricLabel> =>
  protocol === undefined
    ? [MetricLabel.make("backend", backend)]
    : [MetricLabel.make("backend", backend), MetricLabel.make("protocol", protocol)]

/** Span attributes of an address, in OpenTelemetry's names (`prefix` is `server`, `client` or `network.local`). */
export const addressAttributes = (prefix: string, address: SocketAddress | undefined): Record<string, unknown> =>
  address === undefined ? {} : { [`${prefix}.address`]: address.host, [`${prefix}.port`]: address.port }
