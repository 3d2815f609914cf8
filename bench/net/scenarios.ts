/**
 * What `pnpm bench:net` measures: the servers of each protocol and the scenarios that put one
 * load generator against them. Edit these tables to add or change servers or scenarios.
 */

/** Whose server it is: the "vs" columns divide by the rows that are not ours. */
export type Role = "ours" | "node" | "c"

/** One server: how to start it, and what it needs on disk. */
export interface ServerSpec {
  readonly name: string
  readonly role: Role
  /** Path (from the repo root) that must exist, else the row reads "skipped". */
  readonly requires: string
  /** argv, run from the repo root; `node` means this very Node binary. */
  readonly command: (port: number) => ReadonlyArray<string>
  /**
   * A primary that forks this many worker processes (node:cluster, one port by reusePort): its
   * CPU is the whole process tree's, and its V8 heap is not counted (it is spread over them).
   */
  readonly workers?: number
}

/** The callback echo as N worker processes on one port (examples/src/cluster.ts's design). */
const workersEcho = (workers: number): ServerSpec => ({
  name: `ours, callbacks, ${workers} worker process${workers === 1 ? "" : "es"} on one port (node:cluster, reusePort)`,
  role: "ours",
  requires: "bench/build/tcp-each-echo.mjs",
  command: (port) => ["node", "bench/build/tcp-each-echo.mjs", String(port), "--workers", String(workers)],
  workers
})

const UDP_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours, one datagram per call (receiveFrom/sendTo)",
    role: "ours",
    requires: "bench/build/udp-echo.mjs",
    command: (port) => ["node", "bench/build/udp-echo.mjs", "server", "--port", String(port)]
  },
  {
    name: "ours, batches (receiveMany/sendMany)",
    role: "ours",
    requires: "bench/build/udp-batch-echo.mjs",
    command: (port) => ["node", "bench/build/udp-batch-echo.mjs", String(port)]
  },
  {
    name: "ours, batches, metrics off (RegisteredIo.withoutMetrics)",
    role: "ours",
    requires: "bench/build/udp-batch-echo.mjs",
    command: (port) => ["node", "bench/build/udp-batch-echo.mjs", String(port), "--no-metrics"]
  },
  {
    name: "node:dgram",
    role: "node",
    requires: "bench/net/dgram-echo.mjs",
    command: (port) => ["node", "bench/net/dgram-echo.mjs", String(port)]
  },
  {
    name: "C io_uring (liburing)",
    role: "c",
    requires: "bench/net/build/uring_udp_echo",
    command: (port) => ["bench/net/build/uring_udp_echo", String(port)]
  }
]

/** The raw node:net echo: the TCP reference, and context for the Socket echo. */
const NODE_NET: ServerSpec = {
  name: "node:net",
  role: "node",
  requires: "bench/net/net-echo.mjs",
  command: (port) => ["node", "bench/net/net-echo.mjs", String(port)]
}

const TCP_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours, one operation per call (receive/sendAll)",
    role: "ours",
    requires: "bench/build/tcp-echo.mjs",
    command: (port) => ["node", "bench/build/tcp-echo.mjs", "server", "--port", String(port)]
  },
  {
    name: "ours, batches (withReceived/sendMany, one shared ring)",
    role: "ours",
    requires: "bench/build/tcp-batch-echo.mjs",
    command: (port) => ["node", "bench/build/tcp-batch-echo.mjs", "server", "--port", String(port)]
  },
  {
    name: "ours, callbacks (receiveEach/unsafeSendMany, one shared ring)",
    role: "ours",
    requires: "bench/build/tcp-each-echo.mjs",
    command: (port) => ["node", "bench/build/tcp-each-echo.mjs", String(port)]
  },
  {
    name: "ours, callbacks, metrics off (RegisteredIo.withoutMetrics)",
    role: "ours",
    requires: "bench/build/tcp-each-echo.mjs",
    command: (port) => ["node", "bench/build/tcp-each-echo.mjs", String(port), "--no-metrics"]
  },
  workersEcho(1),
  workersEcho(2),
  {
    name: "C io_uring (liburing)",
    role: "c",
    requires: "bench/net/build/uring_tcp_echo",
    command: (port) => ["bench/net/build/uring_tcp_echo", String(port)]
  },
  NODE_NET
]

/**
 * One bench script run as ours and as Node's: its first argument (`rio` or `node`) picks the
 * transport, so both servers run the same handler.
 */
const bothTransports = (script: string, ours: string, node: string): ReadonlyArray<ServerSpec> => [
  { name: `ours (${ours})`, role: "ours", requires: script, command: (port) => ["node", script, "rio", String(port)] },
  { name: node, role: "node", requires: script, command: (port) => ["node", script, "node", String(port)] }
]

/** The same handler on `@effect/platform`'s SocketServer: ours (registered I/O) and Node's. */
const SOCKET_SERVERS: ReadonlyArray<ServerSpec> = [
  ...bothTransports("bench/build/socket-echo.mjs", "RioSocketServer", "NodeSocketServer"),
  NODE_NET
]

/** The rpc example's server (examples/src/rpcApi.ts) on RioSocketServer and on NodeSocketServer. */
const RPC_SERVERS: ReadonlyArray<ServerSpec> = [
  {
    name: "ours (RioSocketServer)",
    role: "ours",
    requires: "bench/build/rpc-server.mjs",
    command: (port) => ["node", "bench/build/rpc-server.mjs", "server", "--port", String(port)]
  },
  {
    name: "NodeSocketServer",
    role: "node",
    requires: "bench/build/rpc-server-node.mjs",
    command: (port) => ["node", "bench/build/rpc-server-node.mjs", String(port)]
  }
]

/** One Effect Cluster runner hosting the `Echo` entity, on RioClusterSocket and on NodeClusterSocket. */
const CLUSTER_RUNNERS = bothTransports("bench/build/cluster-runner.mjs", "RioClusterSocket", "NodeClusterSocket")

/** Which load generator figure a scenario reports: its rate, or GB/s echoed. */
export type Metric = "rate" | "gbps"

/** A load generator: run once per measured run, it prints one JSON line (a `LoadRun`). */
export interface LoadClient {
  /** Path (from the repo root) that must exist, else every row of the scenario reads "skipped". */
  readonly requires: string
  /** argv, run from the repo root; `node` means this very Node binary. */
  readonly command: (port: number, seconds: number) => ReadonlyArray<string>
  /**
   * Seconds from its spawn until its measured window has surely begun: its own start-up plus
   * its warm-up (both exclude the warm-up from their figures). Only the heap runs, which must
   * signal the server at the window's edges while it runs, rely on it.
   */
  readonly measuringAfter: number
}

/** The C load generator: `loadgen <protocol> <port> <load…> <seconds>` (0.5 s warm-up, starts in ms). */
const loadgen = (protocol: "udp" | "tcp", ...load: ReadonlyArray<string>): LoadClient => ({
  requires: "bench/net/build/loadgen",
  command: (port, seconds) => ["bench/net/build/loadgen", protocol, String(port), ...load, String(seconds)],
  measuringAfter: 0.6
})

/** One NodeSocket `@effect/rpc` client with `concurrency` calls in flight (0.5 s warm-up after a 0.3–0.4 s start). */
const rpcLoad = (concurrency: number): LoadClient => ({
  requires: "bench/build/rpc-load.mjs",
  command: (port, seconds) => ["node", "bench/build/rpc-load.mjs", String(port), String(concurrency), String(seconds)],
  measuringAfter: 1.5
})

/**
 * A client that speaks `@effect/rpc`'s wire protocol with its own serializer and no client
 * runtime, light enough that the server, not the client, sets the rate.
 */
const rpcWireLoad = (concurrency: number): LoadClient => ({
  requires: "bench/build/rpc-wire-load.mjs",
  command: (
    port,
    seconds
  ) => ["node", "bench/build/rpc-wire-load.mjs", String(port), String(concurrency), String(seconds)],
  measuringAfter: 1
})

/** One client-only cluster member on NodeClusterSocket with `concurrency` entity calls in flight. */
const clusterLoad = (concurrency: number): LoadClient => ({
  requires: "bench/build/cluster-load.mjs",
  command: (
    port,
    seconds
  ) => ["node", "bench/build/cluster-load.mjs", String(port), String(concurrency), String(seconds)],
  measuringAfter: 3
})

/** The scenario's key in bench/results/net.json. */
export type ScenarioKey = "udp" | "tcpPingPong" | "tcpBulk" | "socketPingPong" | "rpc" | "rpcServerBound" | "cluster"

/** One table: a load generator against every server of a protocol. */
export interface Scenario {
  readonly key: ScenarioKey
  readonly title: string
  readonly protocol: "udp" | "tcp"
  readonly servers: ReadonlyArray<ServerSpec>
  /** The server (by name) that the "CPU vs" column divides by: the one a user would otherwise run. */
  readonly reference: string
  readonly client: LoadClient
  readonly metric: Metric
  readonly unit: string
  /** Also count each JS server's V8 heap allocation per message, in one more run after the timed ones. */
  readonly heap: boolean
}

/** In the order they run and print. */
export const SCENARIOS: ReadonlyArray<Scenario> = [
  {
    key: "udp",
    title: "UDP echo, 64-byte datagrams, 64 in flight",
    protocol: "udp",
    servers: UDP_SERVERS,
    reference: "node:dgram",
    client: loadgen("udp", "64"),
    metric: "rate",
    unit: "round trips/s",
    heap: true
  },
  {
    key: "tcpPingPong",
    title: "TCP echo, 16 connections ping-pong 64-byte messages",
    protocol: "tcp",
    servers: TCP_SERVERS,
    reference: NODE_NET.name,
    client: loadgen("tcp", "16", "64"),
    metric: "rate",
    unit: "msgs/s",
    heap: true
  },
  {
    key: "tcpBulk",
    title: "TCP echo, 4 connections ping-pong 64 KiB blocks",
    protocol: "tcp",
    servers: TCP_SERVERS,
    reference: NODE_NET.name,
    client: loadgen("tcp", "4", "65536"),
    metric: "gbps",
    unit: "GB/s echoed",
    heap: false
  },
  {
    key: "socketPingPong",
    title: "@effect/platform Socket echo, 16 connections ping-pong 64-byte messages",
    protocol: "tcp",
    servers: SOCKET_SERVERS,
    reference: "NodeSocketServer",
    client: loadgen("tcp", "16", "64"),
    metric: "rate",
    unit: "msgs/s",
    heap: false
  },
  {
    key: "rpc",
    title: "@effect/rpc unary calls (MessagePack), one NodeSocket client, 32 in flight",
    protocol: "tcp",
    servers: RPC_SERVERS,
    reference: "NodeSocketServer",
    client: rpcLoad(32),
    metric: "rate",
    unit: "requests/s",
    heap: false
  },
  {
    key: "rpcServerBound",
    title: "@effect/rpc unary calls (MessagePack), one wire-level client (server-bound), 32 in flight",
    protocol: "tcp",
    servers: RPC_SERVERS,
    reference: "NodeSocketServer",
    client: rpcWireLoad(32),
    metric: "rate",
    unit: "requests/s",
    heap: false
  },
  {
    key: "cluster",
    title: "Effect Cluster entity calls (volatile Echo), one NodeClusterSocket client, 32 in flight",
    protocol: "tcp",
    servers: CLUSTER_RUNNERS,
    reference: "NodeClusterSocket",
    client: clusterLoad(32),
    metric: "rate",
    unit: "calls/s",
    heap: false
  }
]
