/**
 * The driver's sockets outside RIO: the record it keeps per socket, the table from its own
 * handles to them, and set-up through plain Winsock — WSASocketW and bind, the local
 * address, a non-blocking connect and accept that wait with `select` on a worker thread.
 *
 * @internal
 */
import type { NetDriverError, OptionSettings } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as Sockaddr from "../sockaddr.js"
import * as Abi from "./abi.js"
import { lastError } from "./errors.js"
import type { Options } from "./options.js"
import { Constants } from "./options.js"
import type { Native } from "./winsock.js"

const AF_INET6 = 23
// ws2def.h / ws2ipdef.h: IPV6_V6ONLY is 27 here (26 on Linux).
const { IPPROTO_IPV6, IPV6_V6ONLY, SOL_SOCKET } = Constants
const SO_ERROR = 0x1007
/** `_IOW('f', 126, u_long)`, as the unsigned 32-bit value ioctlsocket takes. */
const FIONBIO = 0x8004667E
const WSAECONNREFUSED = 10061
/** How long one `select` waits, so that a cancelled connect or accept is noticed soon. */
const SELECT_MS = 50
/** What the request queues of a new socket start with; they grow on demand. */
const INITIAL_DEPTH = 16

export const SOCK_STREAM = 1
export const IPPROTO_TCP = 6
/** `shutdown`'s `how`. */
export const SD = { read: 0, write: 1, both: 2 } as const
export const WSAEWOULDBLOCK = 10035
/** The Win32 code closesocket ends a socket's outstanding requests with. */
export const WSA_OPERATION_ABORTED = 995
/** `SOCKADDR_INET`: large enough for either family. */
export const SOCKADDR_BYTES = Sockaddr.SOCKADDR_BYTES

/** SOCKADDR_INET as Winsock lays it out: Linux's layout with Windows' AF_INET6 (23). */
export const sockaddr = new Sockaddr.Codec({ inet: Abi.AF_INET, inet6: AF_INET6 })

/** A socket of this driver: its request queue's state, and what cancellation needs. */
export class WinSocket {
  /** The request queue (RIO_RQ); 0n for a listener, which has none. */
  rq = 0n
  maxReceive = INITIAL_DEPTH
  maxSend = INITIAL_DEPTH
  /** Receives and sends outstanding in the request queue. */
  receives = 0
  sends = 0
  /** Requests issued with RIO_MSG_DEFER and not yet committed. */
  deferredSends = false
  deferredReceives = false
  closed = false
  /** Cancelled receives not yet completed, and the pokes on their way to them (see `cancel.ts`). */
  cancelledReceives = 0
  pokes = 0
  /** Closed by the cancellation of one of its stream operations (see `cancel.ts`). */
  aborted = false
  /**
   * The peer of a connected UDP socket, which the driver keeps instead of connecting it (see
   * `net.ts`), spelt as its datagrams' senders read: canonical, IPv4-mapped on an IPv6 socket.
   */
  connectedTo: SocketAddress | undefined = undefined

  constructor(
    readonly handle: number,
    readonly native: bigint,
    readonly kind: "udp" | "tcp" | "listener",
    readonly local: SocketAddress,
    readonly remote: SocketAddress | undefined
  ) {}
}

/**
 * The driver's sockets by handle. Handles are this driver's own numbers, never Winsock's: a
 * closed SOCKET's value may be given to the next socket while the core still holds the old one.
 */
export class SocketTable {
  private readonly sockets = new Map<number, WinSocket>()
  private nextHandle = 1

  /** A record for `native` under a new handle, not yet in the table. */
  create(native: bigint, kind: WinSocket["kind"], local: SocketAddress, remote?: SocketAddress): WinSocket {
    return new WinSocket(this.nextHandle++, native, kind, local, remote)
  }

  add(socket: WinSocket): void {
    this.sockets.set(socket.handle, socket)
  }

  get(handle: number): WinSocket | undefined {
    return this.sockets.get(handle)
  }

  delete(socket: WinSocket): void {
    this.sockets.delete(socket.handle)
  }

  /** Closes every socket still open; one a cancellation closed is not touched again. */
  closeAll(ws: Native): void {
    for (const socket of this.sockets.values()) if (!socket.aborted) ws.closesocket(socket.native)
    this.sockets.clear()
  }
}

/** The SOCKADDR_INET of `address`, and its length. */
export const encode = (address: SocketAddress): { readonly name: Uint8Array; readonly length: number } => {
  const name = new Uint8Array(SOCKADDR_BYTES)
  return { name, length: sockaddr.write(new DataView(name.buffer), 0, address) }
}

/** The address a socket is bound to (the port the system chose for port 0). */
export const localAddress = (ws: Native, socket: bigint): SocketAddress => {
  const name = new Uint8Array(SOCKADDR_BYTES)
  ws.getsockname(socket, name, new Int32Array([SOCKADDR_BYTES]))
  return sockaddr.read(new DataView(name.buffer), 0)
}

/**
 * The source address the system picks to reach `peer`: what a UDP socket connected to it
 * reports. Learnt from a throwaway socket's connect (a UDP connect only looks up the route),
 * so that the driver's own UDP socket never connects (see `net.ts`); the wildcard if none.
 */
export const sourceFor = (ws: Native, peer: SocketAddress): string => {
  const family = sockaddr.family(peer.host)
  const wildcard = family === AF_INET6 ? "::" : "0.0.0.0"
  const probe = ws.WSASocketW(family, Abi.SOCK_DGRAM, Abi.IPPROTO_UDP, null, 0, 0)
  if (probe === Abi.INVALID_SOCKET) return wildcard
  const { length, name } = encode(peer)
  const host = ws.connect(probe, name, length) === 0 ? localAddress(ws, probe).host : wildcard
  ws.closesocket(probe)
  return host
}

/** `peer` as a socket of the family of `local` sees it: canonical text, IPv4-mapped on an IPv6 socket. */
export const canonical = (peer: SocketAddress, local: SocketAddress): SocketAddress => {
  const mapped = local.host.includes(":") && !peer.host.includes(":")
  const { name } = encode(mapped ? { host: `::ffff:${peer.host}`, port: peer.port } : peer)
  return sockaddr.read(new DataView(name.buffer), 0)
}

/** FIONBIO: connect and accept must return at once; `select` does the waiting. */
export const nonBlocking = (ws: Native, socket: bigint): number => ws.ioctlsocket(socket, FIONBIO, new Uint32Array([1]))

/** SO_ERROR: what a failed non-blocking connect left. */
const socketError = (ws: Native, socket: bigint): number => {
  const value = new Int32Array(1)
  ws.getsockopt(socket, SOL_SOCKET, SO_ERROR, value, new Int32Array([4]))
  return value[0]!
}

/**
 * A new socket opened for RIO with `settings` applied, bound to `address` when `bind` (else
 * `address` only picks the family). On failure the socket is closed again and the error names
 * `call` and the step.
 *
 * An IPv6 socket is made dual-stack before it binds, as Node (libuv) makes its own: Windows
 * opens it IPv6-only, so a listener on "::" would otherwise miss every IPv4 client, which
 * it then sees IPv4-mapped ("::ffff:127.0.0.1"), as on Linux.
 */
export const open = (
  ws: Native,
  options: Options,
  type: number,
  protocol: number,
  address: SocketAddress,
  bind: boolean,
  settings: OptionSettings,
  call: string
): bigint | NetDriverError => {
  const family = sockaddr.family(address.host)
  const socket = ws.WSASocketW(
    family,
    type,
    protocol,
    null,
    0,
    Abi.WSA_FLAG_OVERLAPPED | Abi.WSA_FLAG_REGISTERED_IO
  )
  if (socket === Abi.INVALID_SOCKET) return lastError(ws, `${call} (WSASocketW)`)
  if (family === AF_INET6 && ws.setsockopt(socket, IPPROTO_IPV6, IPV6_V6ONLY, new Int32Array([0]), 4) !== 0) {
    const error = lastError(ws, `${call} (setsockopt IPV6_V6ONLY)`)
    ws.closesocket(socket)
    return error
  }
  const refused = options.apply(socket, family === AF_INET6, settings, call)
  if (refused !== undefined) {
    ws.closesocket(socket)
    return refused
  }
  if (!bind) return socket
  const { length, name } = encode(address)
  if (ws.bind(socket, name, length) !== 0) {
    const error = lastError(ws, `${call} (bind ${address.host}:${address.port})`)
    ws.closesocket(socket)
    return error
  }
  return socket
}

/** fd_set of one socket (x64: a u_int count, padding, then SOCKETs). */
const fdSet = (socket: bigint): Uint8Array => {
  const bytes = new Uint8Array(16)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, 1, true)
  view.setBigUint64(8, socket, true)
  return bytes
}

/** Whether `select` left the socket in `set`. */
const isSet = (set: Uint8Array): boolean => new DataView(set.buffer).getUint32(0, true) > 0

/** A `timeval` (two 32-bit LONGs). */
const timeval = (milliseconds: number): Uint8Array => {
  const bytes = new Uint8Array(8)
  const view = new DataView(bytes.buffer)
  view.setInt32(0, Math.floor(milliseconds / 1000), true)
  view.setInt32(4, (milliseconds % 1000) * 1000, true)
  return bytes
}

/** Starts connecting `socket` to `peer` without blocking: 0, WSAEWOULDBLOCK while under way, or the failure's code. */
export const startConnect = (ws: Native, socket: bigint, peer: SocketAddress): number => {
  const { length, name } = encode(peer)
  return nonBlocking(ws, socket) === 0 && ws.connect(socket, name, length) === 0 ? 0 : ws.WSAGetLastError()
}

/**
 * Waits for a connect under way (WSAEWOULDBLOCK) with `select` on a worker thread. `finish`
 * runs on the event loop with 0 once connected (or once `stopped()`), or the failure's code.
 */
export const awaitConnect = (
  ws: Native,
  socket: bigint,
  stopped: () => boolean,
  finish: (code: number) => void
): void => {
  const poll = (): void => {
    const writable = fdSet(socket)
    const failed = fdSet(socket)
    ws.selectAsync(0, null, writable, failed, timeval(SELECT_MS), (_error, n) => {
      if (stopped()) return finish(0)
      if (n === 0) return poll()
      if (n < 0 || isSet(failed)) return finish(socketError(ws, socket) || WSAECONNREFUSED)
      finish(isSet(writable) ? socketError(ws, socket) : 0)
    })
  }
  poll()
}

/**
 * Accepts one connection on a non-blocking `listener`, trying again whenever `select` on a
 * worker thread sees it readable. `done` runs later on the event loop with the new socket and
 * its peer, a Winsock code, or `undefined` once `stopped()`.
 */
export const accept = (
  ws: Native,
  listener: bigint,
  stopped: () => boolean,
  done: (result: { readonly socket: bigint; readonly peer: SocketAddress } | number | undefined) => void
): void => {
  const name = new Uint8Array(SOCKADDR_BYTES)
  const size = new Int32Array(1)
  const attempt = (): void => {
    if (stopped()) return done(undefined)
    size[0] = SOCKADDR_BYTES
    const socket = ws.accept(listener, name, size)
    if (socket !== Abi.INVALID_SOCKET) return done({ socket, peer: sockaddr.read(new DataView(name.buffer), 0) })
    const code = ws.WSAGetLastError()
    if (code !== WSAEWOULDBLOCK) return done(code)
    ws.selectAsync(0, fdSet(listener), null, null, timeval(SELECT_MS), attempt)
  }
  setImmediate(attempt)
}
