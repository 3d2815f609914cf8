/**
 * The RIO function table: `WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
 * WSAID_MULTIPLE_RIO)` on a RIO socket or, for ABI testing only, a provider DLL's
 * `RioReferenceGetFunctionTable` — and its 13 pointers decoded with the `__stdcall`
 * prototypes of `abi.ts` into callable functions.
 *
 * @internal
 */
import koffi from "koffi"
import * as Abi from "./abi.js"
import type { Failure, Native } from "./winsock.js"
import { failure } from "./winsock.js"

/** RIOSendEx and RIOReceiveEx share one signature (addresses and control data per request). */
type ExRequest = (
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
  readonly RIOReceiveEx: ExRequest
  readonly RIOSend: (rq: bigint, data: unknown, count: number, flags: number, context: bigint | null) => number
  readonly RIOSendEx: ExRequest
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

// The RIO handles come back from Koffi as number or bigint depending on their magnitude;
// the callers of RioFunctions always get bigint.
const bigResult = (f: KoffiFunction) => (...args: Array<unknown>): bigint => Abi.toBigInt(f(...args))

/** The symbol a provider DLL exports; see {@link load}. */
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
export const load = (ws: Native, socket: bigint, provider: string | undefined): RioFunctions | Failure => {
  const size = koffi.sizeof(Abi.RIO_EXTENSION_FUNCTION_TABLE)
  const table = new Uint8Array(size)
  // cbSize first: providers may (and the reference provider does) refuse a table without it.
  new DataView(table.buffer).setUint32(0, size, true)
  const bytesReturned = [0]
  let call: string
  let result: number
  if (provider === undefined) {
    call = "WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER)"
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
    call = `${providerEntryPoint} (${provider})`
    let entry: KoffiFunction
    try {
      entry = providerFunction(provider)
    } catch (error) {
      return failure(call, ws.GetLastError(), error instanceof Error ? error.message : String(error))
    }
    result = entry(table, size, bytesReturned) as number
  }
  if (result !== 0) return failure(call, ws.WSAGetLastError())
  if (bytesReturned[0] !== size) {
    return failure(call, Abi.WSAEOPNOTSUPP, `the function table has ${bytesReturned[0]} bytes, expected ${size}`)
  }
  const decoded = koffi.decode(table, Abi.RIO_EXTENSION_FUNCTION_TABLE) as Record<string, unknown>
  const functions: Record<string, unknown> = {}
  for (const name of Abi.functionNames) {
    const address = Abi.toBigInt(decoded[name])
    if (address === 0n) return failure(call, Abi.WSAEOPNOTSUPP, `the function table has no ${name}`)
    const decodedFunction = koffi.decode(address, Abi.prototypes[name]) as KoffiFunction
    const returnsHandle = name === "RIORegisterBuffer" || name === "RIOCreateCompletionQueue" ||
      name === "RIOCreateRequestQueue"
    functions[name] = returnsHandle ? bigResult(decodedFunction) : decodedFunction
  }
  return functions as unknown as RioFunctions
}
