/**
 * UDP in the double's network: bound sockets, datagrams routed by port when they arrive,
 * and the datagram faults tests inject (drop, duplicate, reorder, delay), applied where a
 * datagram leaves its sender.
 */
import type { Done, NetDriverError, NetSocket, OptionSettings, Pending, Region } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import type { CompletionQueue, Request, Waiter } from "./completions.js"
import { aborted, decided } from "./completions.js"
import type { Bound, Family } from "./ports.js"
import { familyOf, loopback, mappedLoopback, PortTable, routeOf, seenBy, show } from "./ports.js"
import type { SocketOptions } from "./socketOptions.js"
import { bindFlags } from "./socketOptions.js"

interface Received {
  readonly length: number
  readonly address: SocketAddress
}

// The largest UDP payload each family can carry in one datagram (65535 minus the headers).
const maxDatagram: Record<Family, number> = { v4: 65507, v6: 65527 }

/** A datagram on the wire: its addresses as the family it travels in writes them. */
interface Datagram {
  readonly bytes: Uint8Array
  readonly from: SocketAddress
  readonly to: SocketAddress
  /** How many times it arrives (2 once the duplicate fault took it). */
  readonly copies: number
  readonly delayMs: number | undefined
}

/** A receive waiting for a datagram, and the slice the datagram goes to. */
interface Receiver extends Waiter<Received> {
  readonly region: Region
}

interface UdpSocket {
  readonly socket: NetSocket<SocketAddress>
  readonly bound: Bound
  /** Datagrams that arrived while no receive was waiting. */
  readonly queue: Array<Datagram>
  readonly receivers: Array<Receiver>
  /** The multicast groups it joined. */
  readonly groups: Set<string>
  /** The peer of a connected socket: only its datagrams arrive, and sends without an address go there. */
  readonly remote: SocketAddress | undefined
}

/** What a send of a datagram larger than its family carries answers. */
const tooLarge = (length: number, family: Family) =>
  new RioError.WSAEMSGSIZE({
    operation: "sendTo",
    message: `A ${length}-byte datagram exceeds the ${maxDatagram[family]} bytes one UDP datagram can carry. ` +
      "Split the payload."
  })

/** The addresses a datagram can go to besides a loopback: every socket on the port, or a group's members. */
const BROADCAST = "255.255.255.255"
const isMulticast = (host: string): boolean => {
  const first = host.includes(":") ? -1 : Number(host.split(".")[0])
  return (first >= 224 && first <= 239) || /^ff[0-9a-f]{2}:/i.test(host)
}

export class Udp {
  private readonly sockets = new Map<number, UdpSocket>()
  private readonly ports = new PortTable<UdpSocket>("udp")
  private dropping = 0
  private duplicating = 0
  private reordering = 0
  /** Datagrams the reorder fault holds back until its window is full. */
  private held: Array<Datagram> = []
  private delaying = 0
  private delayMs = 0
  /** Copies of datagrams waiting on a delay timer. */
  private delayed = 0

  constructor(
    private readonly completions: CompletionQueue,
    private readonly nextHandle: () => number,
    private readonly options: SocketOptions
  ) {}

  /** Datagrams sent and not yet received: queued at sockets, held or delayed by faults. */
  get inFlight(): number {
    let count = this.delayed
    for (const datagram of this.held) count += datagram.copies
    for (const socket of this.sockets.values()) count += socket.queue.length
    return count
  }

  drop(n: number): void {
    this.dropping = n
  }

  duplicate(n: number): void {
    this.duplicating = n
  }

  reorder(n: number): void {
    // Datagrams held by an earlier window must not be stranded by the new one.
    this.releaseHeld()
    this.reordering = n
  }

  delay(n: number, ms: number): void {
    this.delaying = n
    this.delayMs = ms
  }

  /** Datagrams already held or delayed still arrive: faults lose data only by `drop`. */
  clearFaults(): void {
    this.dropping = 0
    this.duplicating = 0
    this.releaseHeld()
    this.reordering = 0
    this.delaying = 0
  }

  open(
    bind: SocketAddress,
    settings: OptionSettings,
    peer: SocketAddress | undefined
  ): NetSocket<SocketAddress> | NetDriverError {
    if (peer !== undefined && routeOf(peer.host) === undefined) {
      return new RioError.WSAEADDRNOTAVAIL({
        operation: "connect",
        message: `Cannot reach ${show(peer)}: the simulated network is loopback-only. Connect to "127.0.0.1" or "::1".`
      })
    }
    const bound = this.ports.bind(bind, "bind", bindFlags(settings))
    if ("_tag" in bound) return bound
    const handle = this.nextHandle()
    // Connected, a wildcard-bound socket takes the source address its peer's route picks, as a kernel's does.
    const host = peer !== undefined && (bind.host === "0.0.0.0" || bind.host === "::")
      ? seenBy(routeOf(peer.host)!, bound.family)
      : bind.host
    const socket: NetSocket<SocketAddress> = { handle, local: { host, port: bound.port }, remote: peer }
    const udp: UdpSocket = { socket, bound, queue: [], receivers: [], groups: new Set(), remote: peer }
    this.sockets.set(handle, udp)
    this.ports.hold(bound, udp)
    this.options.open(handle, "udp", socket.local, settings)
    return socket
  }

  /** IP(V6)_ADD_MEMBERSHIP / _DROP_MEMBERSHIP (the core has checked the group and the socket's memberships). */
  membership(socket: NetSocket, group: string, join: boolean): NetDriverError | undefined {
    const udp = this.lookup(socket.handle, join ? "addMembership" : "dropMembership")
    if ("_tag" in udp) return udp
    if (join) udp.groups.add(group.toLowerCase())
    else udp.groups.delete(group.toLowerCase())
    return undefined
  }

  /** Closes the socket if it is one of these; its waiting receives end aborted. */
  close(handle: number): void {
    const udp = this.sockets.get(handle)
    if (udp === undefined) return
    this.sockets.delete(handle)
    this.ports.release(udp.bound, udp)
    this.options.close(handle)
    for (const receiver of udp.receivers.splice(0)) {
      this.completions.settle(receiver.request, aborted("receiveFrom"))
    }
  }

  sendTo(socket: NetSocket, region: Region, to: SocketAddress | undefined, done: Done<number>): Pending {
    const request = this.completions.start(done)
    const udp = this.lookup(socket.handle, "sendTo")
    if ("_tag" in udp) return this.completions.now(request, udp)
    const peer = to ?? udp.remote
    if (peer === undefined) {
      return this.completions.now(
        request,
        new RioError.WSAENOTCONN({ operation: "send", message: "This UDP socket is not connected: name a peer." })
      )
    }
    if (peer.host === BROADCAST || isMulticast(peer.host)) return this.sendToMany(udp, request, region, peer)
    const family = routeOf(peer.host)
    // The IPv4-mapped loopback is IPv4 reached through a dual-stack socket, as on Linux.
    const reachable = peer.host === mappedLoopback ? udp.bound.dualStack : familyOf(peer.host) === udp.bound.family
    if (family === undefined || !reachable) {
      return this.completions.now(
        request,
        new RioError.WSAEADDRNOTAVAIL({
          operation: "sendTo",
          message: family === undefined
            ? `Cannot reach ${show(peer)}: the simulated network is loopback-only. Send to "127.0.0.1" or "::1".`
            : peer.host === mappedLoopback
            ? `Cannot reach ${show(peer)} from ${show(socket.local)}: only a dual-stack socket (bound to "::") ` +
              "reaches IPv4-mapped peers. Bind it to \"::\", or send to \"127.0.0.1\" from an IPv4 socket."
            : `Cannot reach ${show(peer)} from ${show(socket.local)}: the families differ. ` +
              "Bind the socket in the peer's family."
        })
      )
    }
    if (region.length > maxDatagram[family]) {
      return this.completions.now(request, tooLarge(region.length, family))
    }
    this.send({
      // Copied now: the sender may reuse its slice as soon as the send completes.
      bytes: region.memory.slice(region.offset, region.offset + region.length),
      from: { host: loopback[family], port: udp.socket.local.port },
      to: { host: loopback[family], port: peer.port },
      copies: 1,
      delayMs: undefined
    })
    return this.completions.now(request, region.length)
  }

  /**
   * A broadcast (allowed by SO_BROADCAST only, else `WSAEACCES` as on Linux) or a multicast
   * datagram (to this host's members only while IP_MULTICAST_LOOP is on: every member is on
   * this host).
   */
  private sendToMany(udp: UdpSocket, request: Request<number>, region: Region, peer: SocketAddress): Pending {
    const family: Family = peer.host.includes(":") ? "v6" : "v4"
    if (family !== udp.bound.family && !(family === "v4" && udp.bound.dualStack)) {
      return this.completions.now(
        request,
        new RioError.WSAEADDRNOTAVAIL({
          operation: "sendTo",
          message: `Cannot reach ${show(peer)} from ${show(udp.socket.local)}: the families differ.`
        })
      )
    }
    if (region.length > maxDatagram[family]) {
      return this.completions.now(request, tooLarge(region.length, family))
    }
    const broadcast = peer.host === BROADCAST
    if (broadcast && this.options.get(udp.socket.handle, "broadcast") === 0) {
      return this.completions.now(
        request,
        new RioError.WSAEACCES({
          operation: "sendTo",
          message: `sendTo ${show(peer)}: a broadcast needs the socket's broadcast option (udp({ broadcast: true })).`
        })
      )
    }
    if (broadcast || this.options.get(udp.socket.handle, "multicastLoopback") !== 0) {
      this.send({
        bytes: region.memory.slice(region.offset, region.offset + region.length),
        from: { host: loopback[family], port: udp.socket.local.port },
        to: { host: peer.host.toLowerCase(), port: peer.port },
        copies: 1,
        delayMs: undefined
      })
    }
    return this.completions.now(request, region.length)
  }

  receiveFrom(socket: NetSocket, region: Region, done: Done<Received>): Pending {
    const request = this.completions.start(done)
    const udp = this.lookup(socket.handle, "receiveFrom")
    if ("_tag" in udp) return this.completions.now(request, udp)
    const receiver = { request, region }
    const datagram = udp.queue.shift()
    if (datagram !== undefined) {
      this.receive(udp, receiver, datagram)
      return decided
    }
    udp.receivers.push(receiver)
    return this.completions.wait(request, udp.receivers, "receiveFrom")
  }

  private lookup(handle: number, call: string): UdpSocket | NetDriverError {
    return this.sockets.get(handle) ??
      new RioError.WSAEINVAL({ operation: call, message: `Socket ${handle} is not a UDP socket of this double.` })
  }

  /** Where the faults act: on the datagram as it leaves, before it is routed. */
  private send(datagram: Datagram): void {
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

  /**
   * Routes at delivery time: a socket closed meanwhile loses the datagram, as UDP does. Of
   * sockets sharing a port (SO_REUSEPORT), one sender's datagrams all go to the same one.
   */
  private deliver(datagram: Datagram): void {
    const to = datagram.to.host
    if (to === BROADCAST || isMulticast(to)) {
      // As Linux: only sockets bound to the wildcard hear them, and a multicast group joined by
      // any socket of the host reaches every such socket on the port (IP_MULTICAST_ALL).
      if (to !== BROADCAST && !this.joinedAnywhere(to)) return
      const family = to.includes(":") ? "v6" : "v4"
      for (const member of this.ports.all(family, datagram.to.port)) {
        const host = member.socket.local.host
        if (host === "0.0.0.0" || host === "::") this.arrive(member, datagram)
      }
      return
    }
    const target = this.ports.get(familyOf(to)!, datagram.to.port, datagram.from.port)
    if (target !== undefined) this.arrive(target, datagram)
  }

  private joinedAnywhere(group: string): boolean {
    for (const socket of this.sockets.values()) if (socket.groups.has(group)) return true
    return false
  }

  private arrive(target: UdpSocket, datagram: Datagram): void {
    // A connected socket hears its peer only (the sender's port; the double has one host per family).
    const remote = target.remote
    if (
      remote !== undefined &&
      (remote.port !== datagram.from.port || routeOf(remote.host) !== familyOf(datagram.from.host))
    ) {
      return
    }
    for (let i = 0; i < datagram.copies; i++) {
      const receiver = target.receivers.shift()
      if (receiver === undefined) target.queue.push(datagram)
      else this.receive(target, receiver, datagram)
    }
  }

  private receive(udp: UdpSocket, { region, request }: Receiver, datagram: Datagram): void {
    const length = Math.min(datagram.bytes.length, region.length)
    region.memory.set(datagram.bytes.subarray(0, length), region.offset)
    if (datagram.bytes.length > region.length) {
      this.completions.settle(
        request,
        new RioError.WSAEMSGSIZE({
          operation: "receiveFrom",
          message: `A ${datagram.bytes.length}-byte datagram from ${show(datagram.from)} did not fit the ` +
            `${region.length}-byte slice: the first ${region.length} bytes were kept and the rest lost. ` +
            "Receive into slices as large as the largest datagram expected.",
          address: datagram.from,
          size: datagram.bytes.length
        })
      )
    } else {
      // A dual-stack socket sees an IPv4 sender IPv4-mapped.
      const from = familyOf(datagram.from.host)!
      const address = from === udp.bound.family
        ? datagram.from
        : { host: seenBy(from, udp.bound.family), port: datagram.from.port }
      this.completions.settle(request, { length, address })
    }
  }
}
