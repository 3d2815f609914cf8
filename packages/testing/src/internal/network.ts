import type {
  Done,
  NetDriver,
  NetDriverError,
  NetSocket,
  Pending,
  Region,
  SocketAddress
} from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"

type Family = "v4" | "v6"

const firstEphemeralPort = 49152
const lastPort = 65535
// The largest UDP payload each family can carry in one datagram (65535 minus the headers).
const maxDatagram: Record<Family, number> = { v4: 65507, v6: 65527 }
const loopback: Record<Family, string> = { v4: "127.0.0.1", v6: "::1" }

const familyOf = (host: string): Family | undefined =>
  host === "127.0.0.1" || host === "0.0.0.0" ? "v4" : host === "::1" || host === "::" ? "v6" : undefined

const show = (address: SocketAddress): string =>
  address.host.includes(":") ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`

/** An operation started and not yet delivered: `settled` once its result is decided. */
interface Operation<A> {
  readonly done: Done<A>
  settled: boolean
}

interface Datagram {
  readonly bytes: Uint8Array
  readonly from: SocketAddress
  readonly to: SocketAddress
  readonly copies: number
  readonly delayMs: number | undefined
}

interface Receiver<A> {
  readonly operation: Operation<A>
  readonly region: Region
}

interface Udp {
  readonly kind: "udp"
  readonly handle: number
  readonly socket: NetSocket
  readonly family: Family
  readonly queue: Array<Datagram>
  readonly receivers: Array<Receiver<{ readonly length: number; readonly address: SocketAddress }>>
}

interface Listener {
  readonly kind: "listener"
  readonly handle: number
  readonly socket: NetSocket
  readonly family: Family
  readonly backlog: number
  readonly pending: Array<Connection>
  readonly accepts: Array<{ readonly operation: Operation<NetSocket> }>
}

interface Connection {
  readonly kind: "tcp"
  readonly handle: number
  readonly socket: NetSocket
  readonly family: Family
  /** Whether this end holds its local port in the table (the client end does; the server end shares the listener's). */
  readonly ownsPort: boolean
  peer: Connection | undefined
  readonly buffer: Array<Uint8Array>
  buffered: number
  readonly receivers: Array<Receiver<number>>
  readShut: boolean
  writeShut: boolean
  reset: boolean
  closed: boolean
  sent: number
  received: number
}

type Entry = Udp | Listener | Connection

/** What a test sees of one end of an open TCP connection. */
export interface ConnectionBytes {
  readonly local: SocketAddress
  readonly remote: SocketAddress
  readonly sent: number
  readonly received: number
}

/**
 * A loopback-only network inside one double: port tables, datagram queues, byte streams,
 * and the faults tests inject into them. Completions go through one queue, drained in
 * microtasks, so that `done` never runs inside the call that started the operation and
 * the order of completions is the order results were decided.
 */
export class Network {
  private nextHandle = 1
  private readonly entries = new Map<number, Entry>()
  private readonly ports = {
    udp: { v4: new Map<number, Entry>(), v6: new Map<number, Entry>() },
    tcp: { v4: new Map<number, Entry>(), v6: new Map<number, Entry>() }
  }
  // Rotating cursors, like a kernel's: a closed port is not handed out again at once.
  private readonly cursors = { udp: { v4: 0, v6: 0 }, tcp: { v4: 0, v6: 0 } }
  private readonly completions: Array<() => void> = []
  private draining = false
  private outstanding = 0

  private dropping = 0
  private duplicating = 0
  private reordering = 0
  private held: Array<Datagram> = []
  private delaying = 0
  private delayMs = 0
  private delayed = 0
  private chunk: number | undefined = undefined

  readonly driver: NetDriver

  constructor(private readonly completionQueueSize: number) {
    this.driver = this.makeDriver()
  }

  get outstandingOperations(): number {
    return this.outstanding
  }

  get datagramsInFlight(): number {
    let count = this.delayed
    for (const datagram of this.held) count += datagram.copies
    for (const entry of this.entries.values()) if (entry.kind === "udp") count += entry.queue.length
    return count
  }

  get connectionBytes(): ReadonlyArray<ConnectionBytes> {
    const result: Array<ConnectionBytes> = []
    for (const entry of this.entries.values()) {
      if (entry.kind === "tcp" && !entry.closed) {
        result.push({
          local: entry.socket.local,
          remote: entry.socket.remote!,
          sent: entry.sent,
          received: entry.received
        })
      }
    }
    return result
  }

  dropDatagrams(n: number): void {
    this.dropping = n
  }

  duplicateDatagrams(n: number): void {
    this.duplicating = n
  }

  reorderDatagrams(n: number): void {
    // Datagrams held by an earlier window must not be stranded by the new one.
    this.releaseHeld()
    this.reordering = n
  }

  delayDatagrams(n: number, ms: number): void {
    this.delaying = n
    this.delayMs = ms
  }

  limitChunk(bytes: number | undefined): void {
    this.chunk = bytes
  }

  resetConnections(): void {
    for (const entry of this.entries.values()) {
      if (entry.kind === "tcp" && !entry.closed) this.resetConnection(entry, "resetConnections")
    }
  }

  /** Clears the faults; datagrams already held or delayed still arrive (faults lose data only by `drop`). */
  resetFaults(): void {
    this.dropping = 0
    this.duplicating = 0
    this.releaseHeld()
    this.reordering = 0
    this.delaying = 0
    this.chunk = undefined
  }

  private start<A>(done: Done<A>): Operation<A> {
    this.outstanding++
    return { done, settled: false }
  }

  private settle<A>(operation: Operation<A>, result: A | NetDriverError): void {
    if (operation.settled) return
    operation.settled = true
    this.completions.push(() => {
      this.outstanding--
      operation.done(result)
    })
    if (!this.draining) {
      this.draining = true
      queueMicrotask(this.drain)
    }
  }

  /** One drain is one reap of the completion queue: at most `completionQueueSize` entries. */
  private readonly drain = (): void => {
    const batch = this.completions.splice(0, this.completionQueueSize)
    if (this.completions.length > 0) queueMicrotask(this.drain)
    else this.draining = false
    for (const deliver of batch) {
      try {
        deliver()
      } catch (error) {
        // A throwing callback is the caller's bug; it must not swallow the others' completions.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  /** Cancel of a waiting operation: takes it off the list it waits on and aborts it. */
  private cancellable<A>(
    operation: Operation<A>,
    waiters: Array<{ readonly operation: Operation<A> }>,
    name: string
  ): Pending {
    return {
      cancel: () => {
        if (operation.settled) return
        waiters.splice(waiters.findIndex((waiter) => waiter.operation === operation), 1)
        this.settle(operation, aborted(name))
      }
    }
  }

  private bind(
    protocol: "udp" | "tcp",
    address: SocketAddress,
    operation: string
  ): { readonly family: Family; readonly port: number } | NetDriverError {
    const family = familyOf(address.host)
    if (family === undefined) {
      return new RioError.WSAEADDRNOTAVAIL({
        operation,
        message: `Cannot bind ${show(address)}: the simulated network is loopback-only. ` +
          `Bind "127.0.0.1", "::1", "0.0.0.0" or "::".`
      })
    }
    const table = this.ports[protocol][family]
    if (address.port !== 0) {
      if (table.has(address.port)) {
        return new RioError.WSAEADDRINUSE({
          operation,
          message: `${protocol.toUpperCase()} port ${address.port} (${family === "v4" ? "IPv4" : "IPv6"}) is ` +
            "already bound by another socket. Close it first, or bind port 0 for a free port."
        })
      }
      return { family, port: address.port }
    }
    const span = lastPort - firstEphemeralPort + 1
    const cursors = this.cursors[protocol]
    for (let i = 0; i < span; i++) {
      const port = firstEphemeralPort + (cursors[family] + i) % span
      if (!table.has(port)) {
        cursors[family] = (port - firstEphemeralPort + 1) % span
        return { family, port }
      }
    }
    return new RioError.WSAEADDRINUSE({
      operation,
      message: `All ${span} ephemeral ${protocol.toUpperCase()} ports are in use. Close sockets you no longer need.`
    })
  }

  private handle(): number {
    return this.nextHandle++
  }

  private sendDatagram(datagram: Datagram): void {
    if (this.dropping > 0) {
      this.dropping--
      return
    }
    let copies = datagram.copies
    if (this.duplicating > 0) {
      this.duplicating--
      copies = 2
    }
    let delayMs: number | undefined
    if (this.delaying > 0) {
      this.delaying--
      delayMs = this.delayMs
    }
    const faulted = { ...datagram, copies, delayMs }
    if (this.reordering > 0) {
      this.held.push(faulted)
      if (--this.reordering === 0) this.releaseHeld()
      return
    }
    this.dispatch(faulted)
  }

  private releaseHeld(): void {
    const held = this.held.reverse()
    this.held = []
    for (const datagram of held) this.dispatch(datagram)
  }

  private dispatch(datagram: Datagram): void {
    if (datagram.delayMs === undefined) {
      this.deliver(datagram)
      return
    }
    this.delayed += datagram.copies
    setTimeout(() => {
      this.delayed -= datagram.copies
      this.deliver(datagram)
    }, datagram.delayMs)
  }

  /** Routes at delivery time: a socket closed meanwhile loses the datagram, as UDP does. */
  private deliver(datagram: Datagram): void {
    const family = familyOf(datagram.to.host)!
    const target = this.ports.udp[family].get(datagram.to.port)
    if (target === undefined || target.kind !== "udp") return
    for (let i = 0; i < datagram.copies; i++) {
      const receiver = target.receivers.shift()
      if (receiver === undefined) target.queue.push(datagram)
      else this.receiveDatagram(receiver, datagram)
    }
  }

  private receiveDatagram(
    receiver: Receiver<{ readonly length: number; readonly address: SocketAddress }>,
    datagram: Datagram
  ): void {
    const { operation, region } = receiver
    const length = Math.min(datagram.bytes.length, region.length)
    region.memory.set(datagram.bytes.subarray(0, length), region.offset)
    if (datagram.bytes.length > region.length) {
      this.settle(
        operation,
        new RioError.WSAEMSGSIZE({
          operation: "RIOReceiveEx",
          message: `A ${datagram.bytes.length}-byte datagram from ${show(datagram.from)} did not fit the ` +
            `${region.length}-byte slice: the first ${region.length} bytes were kept and the rest lost. ` +
            "Receive into slices as large as the largest datagram expected."
        })
      )
    } else {
      this.settle(operation, { length, address: datagram.from })
    }
  }

  private resetConnection(connection: Connection, why: string): void {
    for (const end of [connection, connection.peer]) {
      if (end === undefined || end.closed || end.reset) continue
      end.reset = true
      end.buffer.length = 0
      end.buffered = 0
      for (const receiver of end.receivers.splice(0)) {
        this.settle(receiver.operation, connectionReset("RIOReceive", end, why))
      }
    }
  }

  /** Serves waiting receives from the buffer, then with 0 once the stream has ended. */
  private pump(connection: Connection): void {
    while (connection.receivers.length > 0) {
      if (connection.buffered > 0) {
        const receiver = connection.receivers.shift()!
        this.settle(receiver.operation, this.take(connection, receiver.region))
      } else if (this.ended(connection)) {
        const receiver = connection.receivers.shift()!
        this.settle(receiver.operation, 0)
      } else {
        return
      }
    }
  }

  private ended(connection: Connection): boolean {
    const peer = connection.peer
    return connection.readShut || peer === undefined || peer.closed || peer.writeShut
  }

  private take(connection: Connection, region: Region): number {
    const wanted = Math.min(region.length, this.chunk ?? region.length, connection.buffered)
    let copied = 0
    while (copied < wanted) {
      const head = connection.buffer[0]
      const n = Math.min(head.length, wanted - copied)
      region.memory.set(head.subarray(0, n), region.offset + copied)
      copied += n
      if (n === head.length) connection.buffer.shift()
      else connection.buffer[0] = head.subarray(n)
    }
    connection.buffered -= copied
    connection.received += copied
    return copied
  }

  private connection(handle: number, operation: string): Connection | NetDriverError {
    const entry = this.entries.get(handle)
    if (entry?.kind === "tcp") return entry
    return invalid(operation, `Socket ${handle} is not a TCP connection of this double.`)
  }

  private close(socket: NetSocket): void {
    const entry = this.entries.get(socket.handle)
    if (entry === undefined) return
    this.entries.delete(socket.handle)
    switch (entry.kind) {
      case "udp": {
        this.ports.udp[entry.family].delete(entry.socket.local.port)
        for (const receiver of entry.receivers.splice(0)) this.settle(receiver.operation, aborted("RIOReceiveEx"))
        return
      }
      case "listener": {
        this.ports.tcp[entry.family].delete(entry.socket.local.port)
        for (const accept of entry.accepts.splice(0)) this.settle(accept.operation, aborted("AcceptEx"))
        // Connections the application never accepted are reset by the kernel.
        for (const connection of entry.pending.splice(0)) {
          this.resetConnection(connection, "its listener was closed before accepting it")
          connection.closed = true
          this.entries.delete(connection.handle)
        }
        return
      }
      case "tcp": {
        if (entry.ownsPort) this.ports.tcp[entry.family].delete(entry.socket.local.port)
        for (const receiver of entry.receivers.splice(0)) this.settle(receiver.operation, aborted("RIOReceive"))
        // Closing with unread bytes is abortive in real stacks (RST, not FIN): the peer sees a reset.
        if (entry.buffered > 0 && !entry.reset) this.resetConnection(entry, "the peer closed with unread data")
        entry.closed = true
        if (entry.peer !== undefined) this.pump(entry.peer)
        return
      }
    }
  }

  private makeDriver(): NetDriver {
    return {
      udp: (bind) => {
        const bound = this.bind("udp", bind, "bind")
        if ("_tag" in bound) return bound
        const handle = this.handle()
        const socket: NetSocket = { handle, local: { host: bind.host, port: bound.port }, remote: undefined }
        const entry: Udp = { kind: "udp", handle, socket, family: bound.family, queue: [], receivers: [] }
        this.entries.set(handle, entry)
        this.ports.udp[bound.family].set(bound.port, entry)
        return socket
      },
      listen: (bind, backlog) => {
        const bound = this.bind("tcp", bind, "listen")
        if ("_tag" in bound) return bound
        const handle = this.handle()
        const socket: NetSocket = { handle, local: { host: bind.host, port: bound.port }, remote: undefined }
        const entry: Listener = {
          kind: "listener",
          handle,
          socket,
          family: bound.family,
          backlog: Math.max(1, backlog),
          pending: [],
          accepts: []
        }
        this.entries.set(handle, entry)
        this.ports.tcp[bound.family].set(bound.port, entry)
        return socket
      },
      connect: (peer, done) => {
        const operation = this.start(done)
        const fail = (error: NetDriverError) => {
          this.settle(operation, error)
          return decided
        }
        const family = familyOf(peer.host)
        if (family === undefined) {
          return fail(
            new RioError.WSAEADDRNOTAVAIL({
              operation: "ConnectEx",
              message: `Cannot reach ${show(peer)}: the simulated network is loopback-only. ` +
                `Connect to "127.0.0.1" or "::1".`
            })
          )
        }
        const listener = this.ports.tcp[family].get(peer.port)
        if (listener === undefined || listener.kind !== "listener") {
          return fail(
            new RioError.WSAECONNREFUSED({
              operation: "ConnectEx",
              message: `Nothing listens at ${show(peer)}. Start the listener first, or check the port.`
            })
          )
        }
        if (listener.accepts.length === 0 && listener.pending.length >= listener.backlog) {
          return fail(
            new RioError.WSAECONNREFUSED({
              operation: "ConnectEx",
              message: `The listener at ${show(peer)} has ${listener.backlog} connections waiting to be ` +
                "accepted (its backlog is full). Accept faster or listen with a larger backlog."
            })
          )
        }
        const bound = this.bind("tcp", { host: loopback[family], port: 0 }, "ConnectEx")
        if ("_tag" in bound) return fail(bound)
        const clientLocal = { host: loopback[family], port: bound.port }
        const serverLocal = { host: loopback[family], port: peer.port }
        const client = makeConnection(this.handle(), clientLocal, serverLocal, family, true)
        const server = makeConnection(this.handle(), serverLocal, clientLocal, family, false)
        client.peer = server
        server.peer = client
        this.entries.set(client.handle, client)
        this.entries.set(server.handle, server)
        this.ports.tcp[family].set(bound.port, client)
        this.settle(operation, client.socket)
        const accept = listener.accepts.shift()
        if (accept === undefined) listener.pending.push(server)
        else this.settle(accept.operation, server.socket)
        return decided
      },
      accept: (socket, done) => {
        const operation = this.start(done)
        const listener = this.entries.get(socket.handle)
        if (listener?.kind !== "listener") {
          this.settle(operation, invalid("AcceptEx", `Socket ${socket.handle} is not a listener of this double.`))
          return decided
        }
        const connection = listener.pending.shift()
        if (connection !== undefined) {
          this.settle(operation, connection.socket)
          return decided
        }
        listener.accepts.push({ operation })
        return this.cancellable(operation, listener.accepts, "AcceptEx")
      },
      send: (socket, region, done) => {
        const operation = this.start(done)
        const connection = this.connection(socket.handle, "RIOSend")
        if ("_tag" in connection) {
          this.settle(operation, connection)
        } else if (connection.reset) {
          this.settle(operation, connectionReset("RIOSend", connection, "it was reset"))
        } else if (connection.writeShut) {
          this.settle(
            operation,
            new RioError.WSAESHUTDOWN({
              operation: "RIOSend",
              message: `Socket ${show(socket.local)} was shut down for writing; nothing more can be sent on ` +
                "it. Send everything before shutdown(\"write\")."
            })
          )
        } else if (connection.peer === undefined || connection.peer.closed) {
          this.settle(operation, connectionReset("RIOSend", connection, "the peer closed it"))
        } else {
          const peer = connection.peer
          const n = Math.min(region.length, this.chunk ?? region.length)
          // A receiver that shut down reading discards what arrives, as the kernel does.
          if (!peer.readShut) {
            peer.buffer.push(region.memory.slice(region.offset, region.offset + n))
            peer.buffered += n
          }
          connection.sent += n
          this.settle(operation, n)
          this.pump(peer)
        }
        return decided
      },
      receive: (socket, region, done) => {
        const operation = this.start(done)
        const connection = this.connection(socket.handle, "RIOReceive")
        if ("_tag" in connection) {
          this.settle(operation, connection)
          return decided
        }
        if (connection.reset) {
          this.settle(operation, connectionReset("RIOReceive", connection, "it was reset"))
          return decided
        }
        connection.receivers.push({ operation, region })
        this.pump(connection)
        return this.cancellable(operation, connection.receivers, "RIOReceive")
      },
      sendTo: (socket, region, peer, done) => {
        const operation = this.start(done)
        const entry = this.entries.get(socket.handle)
        if (entry?.kind !== "udp") {
          this.settle(operation, invalid("RIOSendEx", `Socket ${socket.handle} is not a UDP socket of this double.`))
          return decided
        }
        const family = familyOf(peer.host)
        if (family !== entry.family) {
          this.settle(
            operation,
            new RioError.WSAEADDRNOTAVAIL({
              operation: "RIOSendEx",
              message: family === undefined
                ? `Cannot reach ${show(peer)}: the simulated network is loopback-only. Send to "127.0.0.1" or "::1".`
                : `Cannot reach ${show(peer)} from ${show(socket.local)}: the families differ. ` +
                  "Bind the socket in the peer's family."
            })
          )
          return decided
        }
        if (region.length > maxDatagram[family]) {
          this.settle(
            operation,
            new RioError.WSAEMSGSIZE({
              operation: "RIOSendEx",
              message: `A ${region.length}-byte datagram exceeds the ${maxDatagram[family]} bytes one UDP ` +
                "datagram can carry. Split the payload."
            })
          )
          return decided
        }
        this.sendDatagram({
          // Copied now: the sender may reuse its slice as soon as the send completes.
          bytes: region.memory.slice(region.offset, region.offset + region.length),
          from: { host: loopback[family], port: socket.local.port },
          to: { host: loopback[family], port: peer.port },
          copies: 1,
          delayMs: undefined
        })
        this.settle(operation, region.length)
        return decided
      },
      receiveFrom: (socket, region, done) => {
        const operation = this.start(done)
        const entry = this.entries.get(socket.handle)
        if (entry?.kind !== "udp") {
          this.settle(
            operation,
            invalid("RIOReceiveEx", `Socket ${socket.handle} is not a UDP socket of this double.`)
          )
          return decided
        }
        const receiver = { operation, region }
        const datagram = entry.queue.shift()
        if (datagram !== undefined) {
          this.receiveDatagram(receiver, datagram)
          return decided
        }
        entry.receivers.push(receiver)
        return this.cancellable(operation, entry.receivers, "RIOReceiveEx")
      },
      shutdown: (socket, how) => {
        const connection = this.connection(socket.handle, "shutdown")
        if ("_tag" in connection) return connection
        if (how !== "read") {
          connection.writeShut = true
          if (connection.peer !== undefined) this.pump(connection.peer)
        }
        if (how !== "write") {
          connection.readShut = true
          connection.buffer.length = 0
          connection.buffered = 0
          this.pump(connection)
        }
        return undefined
      },
      close: (socket) => this.close(socket)
    }
  }
}

const makeConnection = (
  handle: number,
  local: SocketAddress,
  remote: SocketAddress,
  family: Family,
  ownsPort: boolean
): Connection => ({
  kind: "tcp",
  handle,
  socket: { handle, local, remote },
  family,
  ownsPort,
  peer: undefined,
  buffer: [],
  buffered: 0,
  receivers: [],
  readShut: false,
  writeShut: false,
  reset: false,
  closed: false,
  sent: 0,
  received: 0
})

/** The `Pending` of an operation whose result was decided at once: there is nothing left to cancel. */
const decided: Pending = { cancel: () => {} }

const aborted = (operation: string): RioError.WSAECONNABORTED =>
  new RioError.WSAECONNABORTED({
    operation,
    message: "The operation was cancelled before it completed (its socket is closing or its fiber was " +
      "interrupted). Nothing was transferred by it."
  })

const connectionReset = (operation: string, connection: Connection, why: string): RioError.WSAECONNRESET =>
  new RioError.WSAECONNRESET({
    operation,
    message: `The connection ${show(connection.socket.local)} -> ${show(connection.socket.remote!)} was reset ` +
      `(${why}). Close the socket and reconnect.`
  })

const invalid = (operation: string, message: string): RioError.WSAEINVAL =>
  new RioError.WSAEINVAL({ operation, message })
