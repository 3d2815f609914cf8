/**
 * The one loader of ws2_32.dll and kernel32.dll: every Winsock and Win32 entry point the
 * Windows driver calls outside the RIO function table, loaded once per process, plus the
 * set-up steps that need nothing else (WSAStartup, the socket the function table comes
 * from, the page size).
 *
 * Set-up steps report failures as values carrying the Winsock or Win32 code; `driver.ts`
 * turns them into typed errors and scopes.
 *
 * @internal
 */
import koffi from "koffi"
import type { TypeObject } from "koffi"
import * as Abi from "./abi.js"

/** A Koffi async call: the arguments, then a callback run on the event loop. */
type Async<A extends Array<unknown>, R> = (...args: [...A, (error: unknown, result: R) => void]) => void

/** The ws2_32 and kernel32 entry points the driver needs. */
export interface Native {
  readonly WSAStartup: (version: number, data: Uint8Array) => number
  readonly WSACleanup: () => number
  readonly WSASocketW: (af: number, type: number, protocol: number, info: null, group: number, flags: number) => bigint
  readonly closesocket: (socket: bigint) => number
  readonly WSAIoctl: (
    socket: bigint,
    code: number,
    input: Uint8Array,
    inputLength: number,
    output: Uint8Array,
    outputLength: number,
    bytesReturned: Array<number>,
    overlapped: null,
    completion: null
  ) => number
  readonly WSAGetLastError: () => number
  readonly WSASetLastError: (code: number) => void
  readonly bind: (socket: bigint, name: Uint8Array, length: number) => number
  readonly listen: (socket: bigint, backlog: number) => number
  readonly connect: (socket: bigint, name: Uint8Array, length: number) => number
  readonly accept: (socket: bigint, name: Uint8Array, length: Int32Array) => bigint
  readonly getsockname: (socket: bigint, name: Uint8Array, length: Int32Array) => number
  readonly getsockopt: (socket: bigint, level: number, option: number, value: Int32Array, length: Int32Array) => number
  readonly setsockopt: (socket: bigint, level: number, option: number, value: ArrayBufferView, length: number) => number
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
  readonly GetLastError: () => number
  readonly GetSystemInfo: (info: Uint8Array) => void
  readonly VirtualAlloc: (address: bigint | null, size: number, type: number, protect: number) => bigint
  readonly VirtualFree: (address: bigint, size: number, type: number) => boolean
  readonly CreateEventW: (attributes: null, manualReset: number, initialState: number, name: null) => unknown
  readonly SetEvent: (event: unknown) => number
  readonly CloseHandle: (handle: unknown) => number
  /** `WaitForSingleObject` on a worker thread, so that the event loop never blocks. */
  readonly waitAsync: Async<[unknown, number], number>
}

/** A native step that failed: which call, and the code it left behind. */
export interface Failure {
  readonly _tag: "Failure"
  readonly call: string
  readonly code: number
  readonly detail?: string
}

/** A {@link Failure} of `call`. */
export const failure = (call: string, code: number, detail?: string): Failure =>
  detail === undefined
    ? { _tag: "Failure", call, code }
    : { _tag: "Failure", call, code, detail }

/** Type guard for {@link Failure}. */
export const isFailure = (value: unknown): value is Failure =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Failure"

/** A parameter type as Koffi accepts it: a type name, a type object or an `_Out_` marker. */
export type Parameter = string | TypeObject | ReturnType<typeof koffi.out>

let cached: Native | undefined

/**
 * Loads ws2_32.dll and kernel32.dll once per process. Throws off Windows (the caller checks
 * the platform first).
 */
export const native = (): Native => {
  if (cached !== undefined) return cached
  const ws2 = koffi.load("ws2_32.dll")
  const kernel32 = koffi.load("kernel32.dll")
  const f = (lib: typeof ws2, result: string, name: string, parameters: Array<Parameter>) =>
    lib.func("__stdcall", name, result, parameters)
  const P = Abi.PVOID
  const S = Abi.SOCKET
  const I = "int32_t"
  const WSASocketW = f(ws2, S, "WSASocketW", [I, I, I, P, "uint32_t", Abi.DWORD])
  const accept = f(ws2, S, "accept", [S, P, P])
  const select = f(ws2, I, "select", [I, P, P, P, P])
  const VirtualAlloc = f(kernel32, P, "VirtualAlloc", [P, "size_t", Abi.DWORD, Abi.DWORD])
  const VirtualFree = f(kernel32, Abi.BOOL, "VirtualFree", [P, "size_t", Abi.DWORD])
  const wait = f(kernel32, Abi.DWORD, "WaitForSingleObject", [Abi.HANDLE, Abi.DWORD])
  cached = {
    WSAStartup: f(ws2, I, "WSAStartup", ["uint16_t", P]) as Native["WSAStartup"],
    WSACleanup: f(ws2, I, "WSACleanup", []) as Native["WSACleanup"],
    // SOCKETs come back from Koffi as number or bigint depending on their magnitude.
    WSASocketW: (...args) => Abi.toBigInt(WSASocketW(...args)),
    closesocket: f(ws2, I, "closesocket", [S]) as Native["closesocket"],
    WSAIoctl: f(ws2, I, "WSAIoctl", [
      S,
      Abi.DWORD,
      P,
      Abi.DWORD,
      P,
      Abi.DWORD,
      koffi.out(koffi.pointer(Abi.DWORD)),
      P,
      P
    ]) as Native["WSAIoctl"],
    WSAGetLastError: f(ws2, I, "WSAGetLastError", []) as Native["WSAGetLastError"],
    WSASetLastError: f(ws2, "void", "WSASetLastError", [I]) as Native["WSASetLastError"],
    bind: f(ws2, I, "bind", [S, P, I]) as Native["bind"],
    listen: f(ws2, I, "listen", [S, I]) as Native["listen"],
    connect: f(ws2, I, "connect", [S, P, I]) as Native["connect"],
    accept: (socket, name, length) => Abi.toBigInt(accept(socket, name, length)),
    getsockname: f(ws2, I, "getsockname", [S, P, P]) as Native["getsockname"],
    getsockopt: f(ws2, I, "getsockopt", [S, I, I, P, P]) as Native["getsockopt"],
    setsockopt: f(ws2, I, "setsockopt", [S, I, I, P, I]) as Native["setsockopt"],
    ioctlsocket: f(ws2, I, "ioctlsocket", [S, "uint32_t", P]) as Native["ioctlsocket"],
    shutdown: f(ws2, I, "shutdown", [S, I]) as Native["shutdown"],
    sendto: f(ws2, I, "sendto", [S, P, I, I, P, I]) as Native["sendto"],
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
    GetLastError: f(kernel32, Abi.DWORD, "GetLastError", []) as Native["GetLastError"],
    GetSystemInfo: f(kernel32, "void", "GetSystemInfo", [P]) as Native["GetSystemInfo"],
    // A null result is how VirtualAlloc fails: 0n, never null, for the callers.
    VirtualAlloc: (...args) => Abi.toBigInt(VirtualAlloc(...args)),
    VirtualFree: (address, size, type) => VirtualFree(address, size, type) !== 0,
    CreateEventW: f(kernel32, Abi.HANDLE, "CreateEventW", [P, Abi.BOOL, Abi.BOOL, P]) as Native["CreateEventW"],
    SetEvent: f(kernel32, Abi.BOOL, "SetEvent", [Abi.HANDLE]) as Native["SetEvent"],
    CloseHandle: f(kernel32, Abi.BOOL, "CloseHandle", [Abi.HANDLE]) as Native["CloseHandle"],
    waitAsync: wait.async as Native["waitAsync"]
  }
  return cached
}

/** `dwPageSize` from GetSystemInfo. */
export const pageSize = (ws: Native): number => {
  const info = new Uint8Array(koffi.sizeof(Abi.SYSTEM_INFO))
  ws.GetSystemInfo(info)
  return (koffi.decode(info, Abi.SYSTEM_INFO) as { readonly dwPageSize: number }).dwPageSize
}

/** WSAStartup(2.2): the error code is the return value (WSAGetLastError is not usable yet). */
export const startup = (ws: Native): undefined | Failure => {
  const data = new Uint8Array(Abi.WSADATA_SIZE)
  const code = ws.WSAStartup(Abi.WINSOCK_2_2, data)
  if (code !== 0) return failure("WSAStartup", code)
  const version = data[0]! | (data[1]! << 8)
  if (version !== Abi.WINSOCK_2_2) {
    ws.WSACleanup()
    return failure("WSAStartup", Abi.WSAVERNOTSUPPORTED, `Winsock offered version 0x${version.toString(16)}`)
  }
  return undefined
}

/**
 * A UDP socket opened with WSA_FLAG_REGISTERED_IO: the RIO function table is only handed
 * out for such sockets, and it stays valid while Winsock is started.
 */
export const openSocket = (ws: Native): bigint | Failure => {
  const socket = ws.WSASocketW(
    Abi.AF_INET,
    Abi.SOCK_DGRAM,
    Abi.IPPROTO_UDP,
    null,
    0,
    Abi.WSA_FLAG_OVERLAPPED | Abi.WSA_FLAG_REGISTERED_IO
  )
  return socket === Abi.INVALID_SOCKET ? failure("WSASocketW", ws.WSAGetLastError()) : socket
}
