/**
 * Winsock and kernel32 through Koffi, and the RIO function table: from
 * `WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, WSAID_MULTIPLE_RIO)` or, for ABI
 * testing only, from a provider DLL (see {@link loadFunctionTable}).
 *
 * Everything here is synchronous and reports failures as values carrying the Winsock or
 * Win32 code; `driver.ts` turns them into typed errors and scopes.
 *
 * @internal
 */
import koffi from "koffi"
import type { TypeObject } from "koffi"
import * as Abi from "./abi.js"

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
  readonly GetLastError: () => number
  readonly GetSystemInfo: (info: Uint8Array) => void
  readonly VirtualAlloc: (address: bigint | null, size: number, type: number, protect: number) => bigint
  readonly VirtualFree: (address: bigint, size: number, type: number) => boolean
}

/** RIOSendEx and RIOReceiveEx share one signature (addresses and control data per request). */
type ExOperation = (
  rq: bigint,
  data: unknown,
  count: number,
  local: unknown,
  remote: unknown,
  control: unknown,
  flags: unknown,
  msgFlags: number,
  context: bigint | null
) => number

/** The 13 RIO functions, callable, as decoded from a function table. */
export interface RioFunctions {
  readonly RIOReceive: (rq: bigint, data: unknown, count: number, flags: number, context: bigint | null) => number
  readonly RIOReceiveEx: ExOperation
  readonly RIOSend: (rq: bigint, data: unknown, count: number, flags: number, context: bigint | null) => number
  readonly RIOSendEx: ExOperation
  readonly RIOCloseCompletionQueue: (cq: bigint) => void
  readonly RIOCreateCompletionQueue: (size: number, notification: unknown) => bigint
  readonly RIOCreateRequestQueue: (
    socket: bigint,
    maxOutstandingReceive: number,
    maxReceiveDataBuffers: number,
    maxOutstandingSend: number,
    maxSendDataBuffers: number,
    receiveCq: bigint,
    sendCq: bigint,
    socketContext: bigint | null
  ) => bigint
  readonly RIODequeueCompletion: (cq: bigint, results: Uint8Array, size: number) => number
  readonly RIODeregisterBuffer: (id: bigint) => void
  readonly RIONotify: (cq: bigint) => number
  readonly RIORegisterBuffer: (data: bigint, length: number) => bigint
  readonly RIOResizeCompletionQueue: (cq: bigint, size: number) => number
  readonly RIOResizeRequestQueue: (rq: bigint, maxOutstandingReceive: number, maxOutstandingSend: number) => number
}

/** What Koffi's `func` and `decode` return for a prototype. */
type KoffiFunction = (...args: Array<unknown>) => unknown

/** A native step that failed: which call, and the code it left behind. */
export interface Failure {
  readonly _tag: "Failure"
  readonly operation: string
  readonly code: number
  readonly detail?: string
}

const failure = (operation: string, code: number, detail?: string): Failure =>
  detail === undefined ? { _tag: "Failure", operation, code } : { _tag: "Failure", operation, code, detail }

/** Type guard for {@link Failure}. */
export const isFailure = (value: unknown): value is Failure =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Failure"

// The RIO handles come back from Koffi as number or bigint depending on their magnitude;
// the callers of RioFunctions always get bigint.
const bigResult = (f: KoffiFunction) => (...args: Array<unknown>): bigint => Abi.toBigInt(f(...args))

/** A parameter type as Koffi accepts it: a type name, a type object or an `_Out_` marker. */
type Parameter = string | TypeObject | ReturnType<typeof koffi.out>

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
  const WSASocketW = f(ws2, Abi.SOCKET, "WSASocketW", [
    "int32_t",
    "int32_t",
    "int32_t",
    Abi.PVOID,
    "uint32_t",
    Abi.DWORD
  ])
  const VirtualAlloc = f(kernel32, Abi.PVOID, "VirtualAlloc", [Abi.PVOID, "size_t", Abi.DWORD, Abi.DWORD])
  const VirtualFree = f(kernel32, Abi.BOOL, "VirtualFree", [Abi.PVOID, "size_t", Abi.DWORD])
  cached = {
    WSAStartup: f(ws2, "int32_t", "WSAStartup", ["uint16_t", Abi.PVOID]) as Native["WSAStartup"],
    WSACleanup: f(ws2, "int32_t", "WSACleanup", []) as Native["WSACleanup"],
    WSASocketW: bigResult(WSASocketW) as Native["WSASocketW"],
    closesocket: f(ws2, "int32_t", "closesocket", [Abi.SOCKET]) as Native["closesocket"],
    WSAIoctl: f(ws2, "int32_t", "WSAIoctl", [
      Abi.SOCKET,
      Abi.DWORD,
      Abi.PVOID,
      Abi.DWORD,
      Abi.PVOID,
      Abi.DWORD,
      koffi.out(koffi.pointer(Abi.DWORD)),
      Abi.PVOID,
      Abi.PVOID
    ]) as Native["WSAIoctl"],
    WSAGetLastError: f(ws2, "int32_t", "WSAGetLastError", []) as Native["WSAGetLastError"],
    WSASetLastError: f(ws2, "void", "WSASetLastError", ["int32_t"]) as Native["WSASetLastError"],
    GetLastError: f(kernel32, Abi.DWORD, "GetLastError", []) as Native["GetLastError"],
    GetSystemInfo: f(kernel32, "void", "GetSystemInfo", [Abi.PVOID]) as Native["GetSystemInfo"],
    // A null result is how VirtualAlloc fails: 0n, never null, for the callers.
    VirtualAlloc: bigResult(VirtualAlloc) as Native["VirtualAlloc"],
    VirtualFree: ((address: bigint, size: number, type: number) => VirtualFree(address, size, type) !== 0) as Native[
      "VirtualFree"
    ]
  }
  return cached
}

/**
 * True when this Windows process runs under Wine (ntdll exports `wine_get_version` there
 * and nowhere else). For tests and diagnostics: Wine has no RIO.
 */
export const isWine = (): boolean => {
  if (process.platform !== "win32") return false
  try {
    koffi.load("ntdll.dll").func("__stdcall", "wine_get_version", "const char *", [])
    return true
  } catch {
    return false
  }
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

/** The symbol a provider DLL exports; see {@link loadFunctionTable}. */
export const providerEntryPoint = "RioReferenceGetFunctionTable"

/** Keeps provider DLLs loaded for the life of the process: their function pointers must never dangle. */
const providers = new Map<string, KoffiFunction>()

const providerFunction = (path: string): KoffiFunction => {
  let entry = providers.get(path)
  if (entry === undefined) {
    const lib = koffi.load(path)
    entry = lib.func("__stdcall", providerEntryPoint, "int32_t", [
      Abi.PVOID,
      Abi.DWORD,
      koffi.out(koffi.pointer(Abi.DWORD))
    ])
    providers.set(path, entry)
  }
  return entry
}

/**
 * Fills a RIO_EXTENSION_FUNCTION_TABLE and decodes its 13 pointers with the `__stdcall`
 * prototypes of `abi.ts`.
 *
 * Without `provider` this is the real thing: WSAIoctl on a RIO socket. With `provider` —
 * the path of a DLL exporting `int RioReferenceGetFunctionTable(RIO_EXTENSION_FUNCTION_TABLE*
 * table, DWORD tableLength, DWORD* bytesReturned)` with WSAIoctl's output contract — the
 * table comes from that DLL instead. This is a seam for ABI testing only (the reference
 * provider in test/wine, because Wine has no RIO): the table buffer, cbSize, the length
 * checks, the decoding, the calling convention and the WSAGetLastError protocol are the same
 * code either way, so a test through the seam exercises the binding that production uses.
 */
export const loadFunctionTable = (
  ws: Native,
  socket: bigint,
  provider: string | undefined
): RioFunctions | Failure => {
  const size = koffi.sizeof(Abi.RIO_EXTENSION_FUNCTION_TABLE)
  const table = new Uint8Array(size)
  // cbSize first: providers may (and the reference provider does) refuse a table without it.
  new DataView(table.buffer).setUint32(0, size, true)
  const bytesReturned = [0]
  let operation: string
  let result: number
  if (provider === undefined) {
    operation = "WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER)"
    const guid = Abi.guidBytes(Abi.WSAID_MULTIPLE_RIO)
    result = ws.WSAIoctl(
      socket,
      Abi.SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
      guid,
      guid.byteLength,
      table,
      size,
      bytesReturned,
      null,
      null
    )
  } else {
    operation = `${providerEntryPoint} (${provider})`
    let entry: KoffiFunction
    try {
      entry = providerFunction(provider)
    } catch (error) {
      return failure(operation, ws.GetLastError(), error instanceof Error ? error.message : String(error))
    }
    result = entry(table, size, bytesReturned) as number
  }
  if (result !== 0) return failure(operation, ws.WSAGetLastError())
  if (bytesReturned[0] !== size) {
    return failure(operation, Abi.WSAEOPNOTSUPP, `the function table has ${bytesReturned[0]} bytes, expected ${size}`)
  }
  const decoded = koffi.decode(table, Abi.RIO_EXTENSION_FUNCTION_TABLE) as Record<string, unknown>
  const functions: Record<string, unknown> = {}
  for (const name of Abi.functionNames) {
    const address = Abi.toBigInt(decoded[name])
    if (address === 0n) return failure(operation, Abi.WSAEOPNOTSUPP, `the function table has no ${name}`)
    const call = koffi.decode(address, Abi.prototypes[name]) as KoffiFunction
    const returnsHandle = name === "RIORegisterBuffer" || name === "RIOCreateCompletionQueue" ||
      name === "RIOCreateRequestQueue"
    functions[name] = returnsHandle ? bigResult(call) : call
  }
  return functions as unknown as RioFunctions
}
