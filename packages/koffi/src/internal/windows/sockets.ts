/**
 * The Winsock and kernel32 calls of the Windows sockets (`net.ts`) that are not RIO: socket
 * set-up (bind, listen, connect, accept), `select` for connect and accept on a worker
 * thread, and the event that RIONotify signals. Loaded once per process, on first use.
 *
 * @internal
 */
import type { SocketAddress } from "@effect-rio/core/Driver"
import koffi from "koffi"
import { isIPv4 } from "node:net"
import * as Sockaddr from "../linux/sockaddr.js"
import * as Abi from "./abi.js"

export const AF_INET6 = 23
export const SOCK_STREAM = 1
export const IPPROTO_TCP = 6
export const SOL_SOCKET = 0xFFFF
export const SO_ERROR = 0x1007
export const TCP_NODELAY = 1
/** `_IOW('f', 126, u_long)`, as the unsigned 32-bit value ioctlsocket takes. */
export const FIONBIO = 0x8004667E
export const SD = { read: 0, write: 1, both: 2 } as const
export const WSAEWOULDBLOCK = 10035
export const WSA_OPERATION_ABORTED = 995
export const WAIT_OBJECT_0 = 0
/** `SOCKADDR_INET`: large enough for either family. */
export const SOCKADDR_BYTES = Sockaddr.SOCKADDR_BYTES

/** A Koffi async call: the arguments, then a callback run on the event loop. */
type Async<A extends Array<unknown>, R> = (...args: [...A, (error: unknown, result: R) => void]) => void

export interface Sockets {
  readonly bind: (socket: bigint, name: Uint8Array, length: number) => number
  readonly listen: (socket: bigint, backlog: number) => number
  readonly connect: (socket: bigint, name: Uint8Array, length: number) => number
  readonly accept: (socket: bigint, name: Uint8Array, length: Int32Array) => bigint
  readonly getsockname: (socket: bigint, name: Uint8Array, length: Int32Array) => number
  readonly getsockopt: (socket: bigint, level: number, option: number, value: Int32Array, length: Int32Array) => number
  readonly setsockopt: (socket: bigint, level: number, option: number, value: Int32Array, length: number) => number
  readonly ioctlsocket: (socket: bigint, command: number, argument: Uint32Array) => number
  readonly shutdown: (socket: bigint, how: number) => number
  readonly sendto: (
    socket: bigint,
    data: Uint8Array,
    length: number,
    flags: number,
    to: Uint8Array,
    toLength: number
  ) => number
  /** `select` on a worker thread: the sets and the timeval are raw memory. */
  readonly selectAsync: Async<[number, Uint8Array | null, Uint8Array | null, Uint8Array | null, Uint8Array], number>
  readonly CreateEventW: (attributes: null, manualReset: number, initialState: number, name: null) => unknown
  readonly SetEvent: (event: unknown) => number
  readonly CloseHandle: (handle: unknown) => number
  /** `WaitForSingleObject` on a worker thread, so that the event loop never blocks. */
  readonly waitAsync: Async<[unknown, number], number>
}

let cached: Sockets | undefined

/** Loads the entry points once per process (Windows only). */
export const load = (): Sockets => {
  if (cached !== undefined) return cached
  const ws2 = koffi.load("ws2_32.dll")
  const kernel32 = koffi.load("kernel32.dll")
  const f = (lib: typeof ws2, result: string, name: string, parameters: Array<string>) =>
    lib.func("__stdcall", name, result, parameters)
  const P = Abi.PVOID
  const S = Abi.SOCKET
  const I = "int32_t"
  const accept = f(ws2, S, "accept", [S, P, P])
  const select = f(ws2, I, "select", [I, P, P, P, P])
  const wait = f(kernel32, Abi.DWORD, "WaitForSingleObject", [Abi.HANDLE, Abi.DWORD])
  cached = {
    bind: f(ws2, I, "bind", [S, P, I]) as Sockets["bind"],
    listen: f(ws2, I, "listen", [S, I]) as Sockets["listen"],
    connect: f(ws2, I, "connect", [S, P, I]) as Sockets["connect"],
    accept: (socket, name, length) => Abi.toBigInt(accept(socket, name, length)),
    getsockname: f(ws2, I, "getsockname", [S, P, P]) as Sockets["getsockname"],
    getsockopt: f(ws2, I, "getsockopt", [S, I, I, P, P]) as Sockets["getsockopt"],
    setsockopt: f(ws2, I, "setsockopt", [S, I, I, P, I]) as Sockets["setsockopt"],
    ioctlsocket: f(ws2, I, "ioctlsocket", [S, "uint32_t", P]) as Sockets["ioctlsocket"],
    shutdown: f(ws2, I, "shutdown", [S, I]) as Sockets["shutdown"],
    sendto: f(ws2, I, "sendto", [S, P, I, I, P, I]) as Sockets["sendto"],
    // The sets and the timeval are written and read by a worker thread until the callback
    // runs; Koffi does not hold them, so the callback does: a set collected mid-call would be
    // freed heap memory that select then writes into.
    selectAsync: (...args) => {
      const callback = args[5]
      ;(select.async as (...all: Array<unknown>) => void)(
        ...args.slice(0, 5),
        (error: unknown, result: number) => {
          void args
          callback(error, result)
        }
      )
    },
    CreateEventW: f(kernel32, Abi.HANDLE, "CreateEventW", [P, Abi.BOOL, Abi.BOOL, P]) as Sockets["CreateEventW"],
    SetEvent: f(kernel32, Abi.BOOL, "SetEvent", [Abi.HANDLE]) as Sockets["SetEvent"],
    CloseHandle: f(kernel32, Abi.BOOL, "CloseHandle", [Abi.HANDLE]) as Sockets["CloseHandle"],
    waitAsync: wait.async as Sockets["waitAsync"]
  }
  return cached
}

/** The address family of `host` for WSASocketW. */
export const family = (host: string): number => isIPv4(host) ? Abi.AF_INET : AF_INET6

/**
 * Writes `address` as a SOCKADDR_INET at `view`'s offset `at` and returns its length. The
 * layouts are those of Linux; only AF_INET6 differs (23, not 10).
 */
export const write = (view: DataView, at: number, address: SocketAddress): number => {
  const length = Sockaddr.write(view, at, address)
  if (length === 28) view.setUint16(at, AF_INET6, true)
  return length
}

/** Reads the SOCKADDR_INET at `view`'s offset `at` (anything but AF_INET is IPv6, as on Linux). */
export const read = (view: DataView, at: number): SocketAddress => Sockaddr.read(view, at)

/** An `fd_set` of one socket (x64: a u_int count, padding, then SOCKETs). */
export const fdSet = (socket: bigint): Uint8Array => {
  const bytes = new Uint8Array(16)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, 1, true)
  view.setBigUint64(8, socket, true)
  return bytes
}

/** Whether `select` left the socket in `set`. */
export const isSet = (set: Uint8Array): boolean => new DataView(set.buffer).getUint32(0, true) > 0

/** A `timeval` (two 32-bit LONGs). */
export const timeval = (milliseconds: number): Uint8Array => {
  const bytes = new Uint8Array(8)
  const view = new DataView(bytes.buffer)
  view.setInt32(0, Math.floor(milliseconds / 1000), true)
  view.setInt32(4, (milliseconds % 1000) * 1000, true)
  return bytes
}
