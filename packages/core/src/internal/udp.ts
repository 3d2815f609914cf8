/**
 * UDP sockets: one datagram per call (`sendTo`, `receiveFrom`), or batches (`sendMany`, and
 * `receiveMany`/`withReceived` from the socket's receive ring, made on first use).
 */
import * as Effect from "effect/Effect"
import type { NetDriver, NetSocket } from "../Driver.js"
import type {
  Datagram,
  OutgoingDatagram,
  ReceiveRingInfo,
  RingOptions,
  SocketAddress,
  SocketError,
  UdpOptions,
  UdpSocket
} from "../RegisteredSocket.js"
import type * as RioBuf from "../RioBuf.js"
import * as RioError from "../RioError.js"
import { checkRingOption, invalid, MAX_RING_SLOTS, parseDestination, senders, show } from "./address.js"
import { DEFAULT_BATCH, receiveMany, withReceived } from "./batches.js"
import type { SocketMetrics } from "./observability.js"
import { membership, readOption, writeOption } from "./options.js"
import { postedRing } from "./postedRing.js"
import { ReceiveRing } from "./receiveRing.js"
import type { AllocateOwned } from "./registration.js"
import { SliceImpl } from "./registration.js"
import { aborted, SocketState } from "./requests.js"
import type { SubmitOne } from "./sendBatch.js"
import { sendBatch } from "./sendBatch.js"

const DEFAULT_SLOT_SIZE = 2048
const DEFAULT_SLOTS = 256

/** What UDP sockets need from the service and the socket layer. */
export interface UdpContext {
  readonly net: NetDriver
  readonly resolve: (operation: string, buf: RioBuf.RioBuf) => SliceImpl | RioError.WSAEINVAL | RioError.WSAEFAULT
  readonly allocateOwned: AllocateOwned
}

/** The ring options as given, or the typed error that names the bad one. */
export const checkRing = (operation: string, ring: RingOptions | undefined): RioError.WSAEINVAL | undefined => {
  if (ring === undefined) return undefined
  return checkRingOption(operation, "slotSize", ring.slotSize, 65535) ??
    checkRingOption(operation, "slots", ring.slots, MAX_RING_SLOTS)
}

/** A UDP socket's state: its requests, and its receive ring once a batch call made it. */
export class UdpState extends SocketState {
  /** The multicast groups joined (`group%iface`). */
  readonly groups = new Set<string>()
  private ring: ReceiveRing | undefined = undefined
  private releaseRing: Effect.Effect<void> | undefined = undefined

  declare readonly socket: NetSocket<SocketAddress>

  constructor(
    net: NetDriver,
    socket: NetSocket<SocketAddress>,
    private readonly options: UdpOptions,
    metrics: SocketMetrics
  ) {
    super(net, socket, options, "receiveFrom", metrics)
  }

  /** The ring, made (one registration) and started on first use. */
  openRing(context: UdpContext): ReceiveRing | SocketError {
    if (this.ring !== undefined) return this.ring
    if (this.closed) return aborted("the socket is closed")
    const slotSize = this.options.receiveRing?.slotSize ?? DEFAULT_SLOT_SIZE
    const slots = this.options.receiveRing?.slots ?? DEFAULT_SLOTS
    const rings = this.net.udpReceiveRings
    const slotBytes = slotSize + (rings?.headerBytes ?? 0)
    const owned = context.allocateOwned(slotBytes * slots, {
      label: `the receive ring of UDP socket ${show(this.socket.local)} (${slots} slots of ${slotBytes} bytes)`,
      timeout: undefined
    })
    if (!("registration" in owned)) return owned
    const ring = new ReceiveRing(owned.registration, slotBytes, slots, this.metrics)
    const kernel = rings === undefined
      ? postedRing(this.net, this.socket, Array.from({ length: slots }, (_, slot) => ring.slotSlice(slot)), ring)
      : rings.open(this.socket, new SliceImpl(owned.registration, 0, slotBytes * slots), slotBytes, slots, ring)
    if (kernel instanceof Error) {
      Effect.runSync(owned.release)
      return kernel
    }
    ring.attach(kernel)
    this.ring = ring
    this.releaseRing = owned.release
    return ring
  }

  info(): ReceiveRingInfo | undefined {
    const ring = this.ring
    if (ring === undefined) return undefined
    const header = this.net.udpReceiveRings?.headerBytes ?? 0
    return { mechanism: ring.mechanism, slots: ring.slots, slotSize: ring.slotBytes - header }
  }

  // The kernel lets go of the ring before the socket closes (its fd could be reused at once);
  // the ring's memory goes once every lent batch has come back.
  override readonly close: Effect.Effect<void> = Effect.suspend(() => {
    if (this.closed) return Effect.void
    const ring = this.ring
    const release = this.releaseRing
    return Effect.zipRight(
      Effect.zipRight(ring === undefined ? Effect.void : ring.close, this.closeSocket),
      release ?? Effect.void
    )
  })
}

export const makeUdpSocket = (context: UdpContext, state: UdpState): UdpSocket => {
  const { net, resolve } = context
  const { metrics, socket } = state
  const openRing = () => state.openRing(context)

  const connected = socket.remote
  /**
   * Where a datagram for `to` goes: its parsed address, or `undefined` (the peer) on a connected
   * socket, which sends to its peer only — as Node refuses `send(…, port, address)` there.
   */
  const destination = (operation: string, to: SocketAddress) => {
    // A datagram's sender, as its driver reported it, needs no parsing: replies are the hot path.
    const peer = senders.has(to) ? to : parseDestination(operation, socket.local, to)
    if (connected === undefined || peer instanceof Error) return peer
    if (peer.port === connected.port && peer.host === connected.host) return undefined
    return invalid(
      operation,
      `This socket is connected to ${show(connected)}: it sends there only (with send), not to ${show(peer)}.`
    )
  }
  /** One datagram of a `sendMany`: to its checked peer, or to the connected one (`undefined`). */
  const sendOne: SubmitOne<SocketAddress | undefined> = (slice, peer, done) => net.sendTo(socket, slice, peer, done)
  /** The slice of a connected socket's `send` / `receive`: checked, and the socket connected. */
  const connectedSlice = (operation: "send" | "receive", buf: RioBuf.RioBuf) => {
    const slice = resolve(operation, buf)
    return slice instanceof Error || connected !== undefined ? slice : notConnected(operation)
  }
  /** A datagram's sender is known valid from then on: a reply to it needs no parsing. */
  const noteSender = <R>(result: R): R => {
    if (!(result instanceof Error)) senders.add((result as Datagram).address)
    return result
  }
  /** The error of `send` / `receive` on a socket that has no peer. */
  const notConnected = (operation: string) =>
    new RioError.WSAENOTCONN({
      operation,
      message: `This UDP socket is not connected: open it with udp({ connect }), or use ${operation}To/From.`
    })

  return {
    address: socket.local,
    remoteAddress: connected,
    // One Effect per call: the checks run inside it, failures are counted by it, and a send
    // (never cancelled: the kernel ends it at once) waits uninterruptibly, without a canceler.
    sendTo: (buf, to) => {
      // Set by each run's checks before its send starts; every run of this Effect sets the same.
      let peer: SocketAddress | undefined
      return state.single<number>(state.sends, false, () => {
        const slice = resolve("sendTo", buf)
        if (slice instanceof Error) return slice
        const checked = destination("sendTo", to)
        if (checked instanceof Error) return checked
        peer = checked
        return slice
      }, (slice, done) => net.sendTo(socket, slice, peer, done))
    },
    send: (buf) =>
      state.single<number>(
        state.sends,
        false,
        () => connectedSlice("send", buf),
        (slice, done) => net.sendTo(socket, slice, undefined, done)
      ),
    receive: (buf) =>
      Effect.map(
        state.single<Datagram>(
          state.receives,
          true,
          () => connectedSlice("receive", buf),
          (slice, done) => net.receiveFrom(socket, slice, done)
        ),
        (datagram) => datagram.length
      ),
    receiveFrom: (buf) =>
      state.single<Datagram>(
        state.receives,
        true,
        () => resolve("receiveFrom", buf),
        (slice, done) => net.receiveFrom(socket, slice, (result) => done(noteSender(result)))
      ),
    receiveMany: (max = DEFAULT_BATCH) => receiveMany("receiveMany", openRing, max, metrics),
    withReceived: (use, max = DEFAULT_BATCH) => withReceived("withReceived", openRing, use, max, metrics),
    sendMany: (datagrams: ReadonlyArray<OutgoingDatagram>) =>
      sendBatch(state, state.sends, () => {
        if (!Array.isArray(datagrams)) return invalid("sendMany", "datagrams is not an array.")
        const count = datagrams.length
        const slices = new Array<SliceImpl>(count)
        const targets = new Array<SocketAddress | undefined>(count)
        for (let i = 0; i < count; i++) {
          const datagram = datagrams[i]
          const slice = resolve("sendMany", datagram?.buf as RioBuf.RioBuf)
          if (slice instanceof Error) return slice
          const peer = destination("sendMany", datagram!.to)
          if (peer instanceof Error) return peer
          slices[i] = slice
          targets[i] = peer
        }
        return { slices, targets }
      }, sendOne),
    receiveRing: Effect.sync(() => state.info()),
    option: (name) => metrics.counted(readOption(state, "udp", name)),
    setOption: (name, value) => metrics.counted(writeOption(state, "udp", name, value)),
    addMembership: (group, iface) => metrics.counted(membership(state, state.groups, group, iface, true)),
    dropMembership: (group, iface) => metrics.counted(membership(state, state.groups, group, iface, false))
  }
}
