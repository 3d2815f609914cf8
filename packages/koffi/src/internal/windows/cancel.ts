/**
 * Cancellation, which RIO does not have per request.
 *
 * - A cancelled UDP receive is completed by a one-byte datagram the driver sends to the
 *   socket from a socket of its own (a "poke"): the receive that gets it ends with
 *   WSAECONNABORTED if it was cancelled, or is re-posted unchanged if it was not (requests
 *   complete in order, so the cancelled one is reached). The socket stays usable.
 * - A cancelled TCP operation ends the stream (see {@link abortStream}): a half-done read or
 *   write leaves it unusable anyway.
 * - A cancelled UDP send is left to complete: it never waits for a peer.
 *
 * @internal
 */
import * as Abi from "./abi.js"
import type { Completions } from "./completions.js"
import type { WinSocket } from "./sockets.js"
import { encode, sockaddr, SOCKADDR_BYTES } from "./sockets.js"
import type { Native } from "./winsock.js"

/** A plain UDP socket of the driver's, bound to loopback, and the address it pokes from. */
interface Poker {
  readonly socket: bigint
  readonly name: Uint8Array
}

/** The pokes of the driver's UDP sockets, one poker socket per address family. */
export class Pokes {
  private readonly pokers = new Map<number, Poker>()

  constructor(private readonly ws: Native) {}

  /** A receive of `socket` was cancelled: a poke goes out to complete it. */
  cancelReceive(socket: WinSocket): void {
    socket.cancelledReceives++
    this.topUp(socket)
  }

  /**
   * A cancelled receive completed with `status` and the peer address at `view`/`at`: true if
   * a poke ended it; otherwise it ended on its own and another receive needs the poke.
   */
  settleCancelled(socket: WinSocket, status: number, view: DataView, at: number): boolean {
    socket.cancelledReceives--
    if (status === 0 && this.isPoke(view, at)) {
      socket.pokes--
      return true
    }
    this.topUp(socket)
    return false
  }

  /**
   * A receive that was not cancelled completed with the peer address at `view`/`at`: if it
   * got a poke meant for a cancelled receive further back, `repost` posts it again and this
   * returns true (the completion is not the receive's result).
   */
  absorbStray(socket: WinSocket, view: DataView, at: number, repost: () => boolean): boolean {
    if (!this.isPoke(view, at)) return false
    socket.pokes--
    if (!repost()) return false
    this.topUp(socket)
    return true
  }

  /** Closes the poker sockets. */
  close(): void {
    for (const poker of this.pokers.values()) this.ws.closesocket(poker.socket)
    this.pokers.clear()
  }

  /** The poker of a family, made on first use. */
  private poker(family: number): Poker | undefined {
    let poker = this.pokers.get(family)
    if (poker !== undefined) return poker
    const { ws } = this
    const socket = ws.WSASocketW(family, Abi.SOCK_DGRAM, Abi.IPPROTO_UDP, null, 0, 0)
    if (socket === Abi.INVALID_SOCKET) return undefined
    const { length, name } = encode({ host: family === Abi.AF_INET ? "127.0.0.1" : "::1", port: 0 })
    const size = new Int32Array([SOCKADDR_BYTES])
    if (ws.bind(socket, name, length) !== 0 || ws.getsockname(socket, name, size) !== 0) {
      ws.closesocket(socket)
      return undefined
    }
    poker = { socket, name }
    this.pokers.set(family, poker)
    return poker
  }

  private isPoke(view: DataView, at: number): boolean {
    const family = view.getUint16(at, true)
    const poker = this.pokers.get(family)
    if (poker === undefined) return false
    const mine = new DataView(poker.name.buffer)
    if (view.getUint16(at + 2) !== mine.getUint16(2)) return false
    if (family === Abi.AF_INET) return view.getUint32(at + 4) === mine.getUint32(4)
    for (let i = 8; i < 24; i += 4) if (view.getUint32(at + i) !== mine.getUint32(i)) return false
    return true
  }

  /** One poke in flight per cancelled receive not yet completed. */
  private topUp(socket: WinSocket): void {
    while (socket.pokes < socket.cancelledReceives) {
      const poker = this.poker(sockaddr.family(socket.local.host))
      if (poker === undefined) return
      const host = socket.local.host === "0.0.0.0"
        ? "127.0.0.1"
        : socket.local.host === "::"
        ? "::1"
        : socket.local.host
      const { length, name } = encode({ host, port: socket.local.port })
      if (this.ws.sendto(poker.socket, new Uint8Array(1), 1, 0, name, length) !== 1) return
      socket.pokes++
    }
  }
}

/**
 * A cancelled stream operation ends the stream: what it has outstanding is committed, then
 * closesocket ends every request of the queue with WSA_OPERATION_ABORTED, which is
 * documented — unlike shutdown, which does not complete a pending receive. A half-done read
 * or write leaves the stream unusable anyway. The close stays graceful (no SO_LINGER 0):
 * the core cancels a socket's pending receive before it closes it, and what was sent
 * before must still reach the peer. The socket keeps its place in the table so that later
 * operations fail at once, and nothing touches the handle again (Windows may give its
 * number to the next socket).
 */
export const abortStream = (ws: Native, completions: Completions, socket: WinSocket): void => {
  if (socket.aborted || socket.closed) return
  completions.commit(socket)
  socket.aborted = true
  ws.closesocket(socket.native)
}
