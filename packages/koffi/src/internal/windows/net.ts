/**
 * Sockets on Winsock Registered I/O: the core's `NetDriver` operations, each described in
 * terms of the pieces that do the work — socket set-up (`sockets.ts`), request queues
 * (`requestQueues.ts`), the shared completion queue (`completions.ts`), the peer addresses
 * of UDP requests (`peerAddresses.ts`) and cancellation (`cancel.ts`).
 *
 * TCP data is RIOSend / RIOReceive; UDP is RIOSendEx / RIOReceiveEx. Connect and accept are
 * not RIO: a non-blocking socket and `select` on a worker thread.
 *
 * @internal
 */
import type { BufferId } from "@effect-rio/core/BufferId"
import type { NetDriver, NetDriverError, Region } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import { completeLater } from "../operations.js"
import { isIPv6Host } from "../options.js"
import { Cache } from "../sockaddr.js"
import * as Abi from "./abi.js"
import { abortStream, type Pokes } from "./cancel.js"
import type { Completions } from "./completions.js"
import { cancelled, closedByCancel, fromCode, lastError, listenerNotOpen, truncated } from "./errors.js"
import type { RioFunctions } from "./functionTable.js"
import { Options } from "./options.js"
import type { PeerAddresses } from "./peerAddresses.js"
import type { RequestQueues } from "./requestQueues.js"
import * as Sockets from "./sockets.js"
import type { Native } from "./winsock.js"

/** What the operations work with; `driver.ts` makes them and tears them down. */
export interface Parts {
  readonly ws: Native
  readonly rio: RioFunctions
  readonly sockets: Sockets.SocketTable
  readonly completions: Completions
  readonly requestQueues: RequestQueues
  readonly peerAddresses: PeerAddresses
  readonly pokes: Pokes
  /** The RIO_BUFFERID behind a live BufferId. */
  readonly rioBufferId: (id: BufferId) => bigint | undefined
}

/** The sockets of a Windows driver, over the parts it made. */
export const make = (parts: Parts): NetDriver => {
  const { completions, rioBufferId, peerAddresses, pokes, requestQueues, rio, sockets, ws } = parts
  const addressCache = new Cache(Sockets.sockaddr)
  const options = new Options(ws)

  const dataBuf = (region: Region): object => ({
    BufferId: rioBufferId(region.bufferId) ?? 0n,
    Offset: region.offset,
    Length: region.length
  })

  /** A connected or bound socket with its request queue, in the table; closed again if that fails. */
  const adopt = (
    socket: bigint,
    kind: "udp" | "tcp",
    remote: SocketAddress | undefined,
    host?: string
  ): Sockets.WinSocket | NetDriverError => {
    const local = Sockets.localAddress(ws, socket)
    const state = sockets.create(socket, kind, host === undefined ? local : { host, port: local.port }, remote)
    const error = requestQueues.create(state)
    if (error !== undefined) {
      ws.closesocket(socket)
      return error
    }
    sockets.add(state)
    return state
  }

  /** The socket's record while it is open: closed (or closed by a cancel), the error `call` reports. */
  const openState = (socket: { readonly handle: number }, call: string): Sockets.WinSocket | NetDriverError => {
    const state = sockets.get(socket.handle)
    if (state === undefined) {
      return new RioError.WSAECONNABORTED({ operation: call, message: `${call}: the socket is closed.` })
    }
    return state.aborted ? closedByCancel(call) : state
  }

  /** A receive's completion that names a sender: a datagram, whole or truncated. */
  const carriesDatagram = (status: number) => status === 0 || status === RioError.Codes.WSAEMSGSIZE

  /** Whether the datagram whose sender is at `view`/`at` may reach `socket`: any, unless it is connected. */
  const fromPeer = (socket: Sockets.WinSocket, view: DataView, at: number): boolean => {
    const peer = socket.connectedTo
    if (peer === undefined) return true
    const sender = addressCache.decode(view, at)
    return sender.port === peer.port && sender.host === peer.host
  }

  // A cancelled stream operation closes its stream (see `cancel.ts`).
  const stream = {
    cancel: (operation: { readonly socket: Sockets.WinSocket }) => abortStream(ws, completions, operation.socket)
  }

  return {
    // A connected UDP socket is not connected in Winsock: a receive in flight is ended by a
    // datagram from the driver's own socket (see `cancel.ts`), which a connected socket would
    // filter out. The driver keeps the peer instead: sends go to it, and a datagram from anyone
    // else is dropped and its receive posted again, as the kernel of a connected socket would.
    udp: (bind, settings, peer) => {
      const socket = Sockets.open(
        ws,
        options,
        Abi.SOCK_DGRAM,
        Abi.IPPROTO_UDP,
        bind,
        true,
        settings,
        "RegisteredSocket.udp"
      )
      if (typeof socket !== "bigint") return socket
      if (peer === undefined) return adopt(socket, "udp", undefined)
      // Bound to the wildcard, a connected socket reports the source address its peer's route picks.
      const wildcard = bind.host === "0.0.0.0" || bind.host === "::"
      const state = adopt(socket, "udp", peer, wildcard ? Sockets.sourceFor(ws, peer) : undefined)
      if (!(state instanceof Error)) state.connectedTo = Sockets.canonical(peer, state.local)
      return state
    },

    listen: (bind, backlog, settings) => {
      // No SO_REUSEADDR unless asked: on Windows it lets a second socket take a port in use.
      const call = "RegisteredSocket.listen"
      const socket = Sockets.open(ws, options, Sockets.SOCK_STREAM, Sockets.IPPROTO_TCP, bind, true, settings, call)
      if (typeof socket !== "bigint") return socket
      if (ws.listen(socket, backlog) !== 0 || Sockets.nonBlocking(ws, socket) !== 0) {
        const error = lastError(ws, "RegisteredSocket.listen (listen)")
        ws.closesocket(socket)
        return error
      }
      const state = sockets.create(socket, "listener", Sockets.localAddress(ws, socket))
      sockets.add(state)
      return state
    },

    connect: (peer, settings, done) => {
      const call = `RegisteredSocket.connect (${peer.host}:${peer.port})`
      const socket = Sockets.open(ws, options, Sockets.SOCK_STREAM, Sockets.IPPROTO_TCP, peer, false, settings, call)
      if (typeof socket !== "bigint") return completeLater(done, socket)
      const code = Sockets.startConnect(ws, socket, peer)
      if (code !== 0 && code !== Sockets.WSAEWOULDBLOCK) {
        ws.closesocket(socket)
        return completeLater(done, fromCode(code, call))
      }
      let stopped = false
      const finish = (result: number): void => {
        if (stopped || result !== 0) {
          ws.closesocket(socket)
          return done(stopped ? cancelled(call) : fromCode(result, call))
        }
        done(adopt(socket, "tcp", peer))
      }
      if (code === 0) setImmediate(() => finish(0))
      else Sockets.awaitConnect(ws, socket, () => stopped, finish)
      return { cancel: () => (stopped = true) }
    },

    accept: (listener, settings, done) => {
      const state = sockets.get(listener.handle)
      if (state === undefined) return completeLater(done, listenerNotOpen())
      let stopped = false
      Sockets.accept(ws, state.native, () => stopped, (result) => {
        if (result === undefined) return done(cancelled("RegisteredSocket.accept"))
        if (typeof result === "number") return done(fromCode(result, "RegisteredSocket.accept"))
        const refused = options.apply(result.socket, isIPv6Host(state.local.host), settings, "RegisteredSocket.accept")
        if (refused !== undefined) {
          ws.closesocket(result.socket)
          return done(refused)
        }
        done(adopt(result.socket, "tcp", result.peer))
      })
      return { cancel: () => (stopped = true) }
    },

    send: (socket, region, done) =>
      requestQueues.submit(
        sockets.get(socket.handle),
        true,
        done,
        (state, _, userData) => rio.RIOSend(state.rq, dataBuf(region), 1, Abi.RIO_MSG_DEFER, BigInt(userData)) !== 0,
        {
          complete: (status, bytes, operation) =>
            status === 0
              ? bytes
              : fromCode(operation.cancelled ? Sockets.WSA_OPERATION_ABORTED : status, "send (RIOSend)"),
          ...stream
        }
      ),

    receive: (socket, region, done) =>
      requestQueues.submit(
        sockets.get(socket.handle),
        false,
        done,
        (state, _, userData) => rio.RIOReceive(state.rq, dataBuf(region), 1, Abi.RIO_MSG_DEFER, BigInt(userData)) !== 0,
        {
          complete: (status, bytes, operation) => {
            // The abort of a cancelled receive is the cancellation; data that arrived first is
            // still the result.
            if (operation.cancelled && (status !== 0 || bytes === 0)) return cancelled("receive (RIOReceive)")
            return status === 0 ? bytes : fromCode(status, "receive (RIOReceive)")
          },
          ...stream
        }
      ),

    sendTo: (socket, region, peer, done) =>
      requestQueues.submit(
        sockets.get(socket.handle),
        true,
        done,
        (state, entry, userData) => {
          // No address on a connected socket: the datagram goes to its peer, which the driver keeps.
          const to = peer ?? state.connectedTo!
          const address = peerAddresses.of(entry)
          if (address instanceof Error) return address
          Sockets.sockaddr.write(address.view, address.at, to)
          return rio.RIOSendEx(
            state.rq,
            dataBuf(region),
            1,
            null,
            address.buf,
            null,
            null,
            Abi.RIO_MSG_DEFER,
            BigInt(userData)
          ) !== 0
        },
        {
          complete: (status, bytes) => status === 0 ? bytes : fromCode(status, "sendTo (RIOSendEx)"),
          // A datagram send never waits for a peer: let it complete.
          cancel: () => {}
        }
      ),

    receiveFrom: (socket, region, done) => {
      // A poke (see `cancel.ts`) writes its one byte into the slice of the receive it completes:
      // the byte the slice had is put back, so an interrupted receive leaves its slice as it was.
      const first = region.length > 0 ? region.memory[region.offset]! : 0
      const unpoke = (): void => {
        if (region.length > 0) region.memory[region.offset] = first
      }
      const post = (state: Sockets.WinSocket, entry: number, userData: number): boolean | NetDriverError => {
        const address = peerAddresses.of(entry)
        if (address instanceof Error) return address
        return rio.RIOReceiveEx(
          state.rq,
          dataBuf(region),
          1,
          null,
          address.buf,
          null,
          null,
          Abi.RIO_MSG_DEFER,
          BigInt(userData)
        ) !== 0
      }
      return requestQueues.submit(sockets.get(socket.handle), false, done, post, {
        complete: (status, bytes, operation) => {
          const { at, view } = peerAddresses.posted(operation.entry)
          if (operation.cancelled && pokes.settleCancelled(operation.socket, status, view, at)) {
            unpoke()
            return cancelled("receiveFrom (RIOReceiveEx)")
          }
          // A stranger's datagram (whole or truncated) that a receive could not be posted again
          // for, or that a cancelled receive got: dropped, as a connected socket's kernel would.
          if (carriesDatagram(status) && !fromPeer(operation.socket, view, at)) {
            return cancelled("receiveFrom (RIOReceiveEx)")
          }
          if (status === RioError.Codes.WSAEMSGSIZE) return truncated(region.length, addressCache.decode(view, at))
          if (status !== 0) return fromCode(status, "receiveFrom (RIOReceiveEx)")
          return { length: bytes, address: addressCache.decode(view, at) }
        },
        cancel: (operation) => pokes.cancelReceive(operation.socket),
        absorb: (operation, status) => {
          if (operation.cancelled || !carriesDatagram(status)) return false
          const { at, view } = peerAddresses.posted(operation.entry)
          const repost = () => {
            if (post(operation.socket, operation.entry, operation.userData) !== true) return false
            completions.defer(operation.socket, false)
            return true
          }
          if (status === 0 && pokes.absorbStray(operation.socket, view, at, () => (unpoke(), repost()))) return true
          // A connected socket hears its peer only: anyone else's datagram is dropped, the receive posted again.
          return !fromPeer(operation.socket, view, at) && repost()
        }
      })
    },

    shutdown: (socket, how) => {
      const state = sockets.get(socket.handle)
      if (state === undefined) return undefined
      if (state.aborted) return closedByCancel("shutdown")
      return ws.shutdown(state.native, Sockets.SD[how]) === 0 ? undefined : lastError(ws, "shutdown")
    },

    close: (socket) => {
      const state = sockets.get(socket.handle)
      if (state === undefined || state.closed) return
      state.closed = true
      sockets.delete(state)
      completions.forget(state)
      if (!state.aborted) ws.closesocket(state.native)
      requestQueues.release(state)
    },

    setOption: (socket, name, value) => {
      const state = openState(socket, "setOption")
      return state instanceof Error
        ? state
        : options.set(state.native, isIPv6Host(state.local.host), name, value, "setOption")
    },

    getOption: (socket, name) => {
      const state = openState(socket, "option")
      return state instanceof Error ? state : options.get(state.native, isIPv6Host(state.local.host), name)
    },

    membership: (socket, group, iface, join) => {
      const state = openState(socket, join ? "addMembership" : "dropMembership")
      if (state instanceof Error) return state
      return options.membership(state.native, isIPv6Host(state.local.host), group, iface, join)
    }
  }
}
