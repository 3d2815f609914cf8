/**
 * The Winsock Registered I/O ABI (Windows x64) as Koffi types, plus the constants and the
 * layout facts that the tests pin.
 *
 * Written from Microsoft's documentation of mswsockdef.h / mswsock.h and cross-checked
 * against a mingw-w64 build of `test/wine/layout.c` run under Wine. Two rules keep it
 * honest on every host:
 *   - only fixed-width Koffi types: ULONG/DWORD/LONG/BOOL are 32-bit on Windows (LLP64)
 *     while Koffi's `long` follows the host (64-bit on Linux), so `long` never appears;
 *   - every type is anonymous: Koffi's type names are process-global and test runners
 *     evaluate this module more than once per process, which would make named types
 *     collide ("Duplicate type name").
 * With fixed-width members the sizes and offsets below are the same on Linux x64 and
 * Windows x64, so `layout.test.ts` checks them on either.
 *
 * @internal
 */
import koffi from "koffi"
import type { TypeObject } from "koffi"

// --- scalar types -----------------------------------------------------------------------

/** `ULONG`, `DWORD`: unsigned 32-bit on Windows, whatever the host's `long` is. */
export const ULONG = "uint32_t"
/** `DWORD`. */
export const DWORD = "uint32_t"
/** `LONG`: signed 32-bit. */
export const LONG = "int32_t"
/** `BOOL` and `INT`: a 32-bit int, not C's `_Bool`. */
export const BOOL = "int32_t"
/** `INT`. */
export const INT = "int32_t"
/** `ULONGLONG`. */
export const ULONGLONG = "uint64_t"
/**
 * `ULONG_PTR` and the opaque handles that are compared with integer sentinels
 * (`RIO_BUFFERID`, `RIO_CQ`, `RIO_RQ`, `SOCKET`). In the SDK the RIO handles are pointers
 * to incomplete structs; on x64 a pointer and a `uintptr_t` travel in the same register,
 * and the integer form lets us compare with `RIO_INVALID_BUFFERID` (0xFFFFFFFF) directly.
 * Koffi returns them as number or bigint by magnitude: use {@link toBigInt}.
 */
export const ULONG_PTR = "uintptr_t"
export const RIO_BUFFERID = ULONG_PTR
export const RIO_CQ = ULONG_PTR
export const RIO_RQ = ULONG_PTR
export const SOCKET = ULONG_PTR
/**
 * Untyped data pointers (`PVOID`, `HANDLE`, and `PCHAR` — Koffi would treat `char *` as a
 * string and copy it, which is not what RIORegisterBuffer wants).
 */
export const PVOID = "void *"
export const HANDLE = "void *"
export const PCHAR = "void *"

// --- structures -------------------------------------------------------------------------

/** `RIO_BUF`: a slice of a registered buffer. 16 bytes. */
export const RIO_BUF: TypeObject = koffi.struct({
  BufferId: RIO_BUFFERID,
  Offset: ULONG,
  Length: ULONG
})

/** `RIORESULT`: one completion. 24 bytes. */
export const RIORESULT: TypeObject = koffi.struct({
  Status: LONG,
  BytesTransferred: ULONG,
  SocketContext: ULONGLONG,
  RequestContext: ULONGLONG
})

/** `RIO_NOTIFICATION_COMPLETION.Event`. */
export const RIO_NOTIFICATION_COMPLETION_EVENT: TypeObject = koffi.struct({
  EventHandle: HANDLE,
  NotifyReset: BOOL
})

/** `RIO_NOTIFICATION_COMPLETION.Iocp`. */
export const RIO_NOTIFICATION_COMPLETION_IOCP: TypeObject = koffi.struct({
  IocpHandle: HANDLE,
  CompletionKey: PVOID,
  Overlapped: PVOID
})

/**
 * `RIO_NOTIFICATION_COMPLETION`: `Type` (an enum, 4 bytes) then an anonymous union that
 * starts at 8 because of the pointers inside. Koffi needs the union named: `u`. 32 bytes.
 */
export const RIO_NOTIFICATION_COMPLETION: TypeObject = koffi.struct({
  Type: INT,
  u: koffi.union({
    Event: RIO_NOTIFICATION_COMPLETION_EVENT,
    Iocp: RIO_NOTIFICATION_COMPLETION_IOCP
  })
})

/** `GUID`: Data1 little-endian 32-bit, Data2/Data3 16-bit, Data4 eight bytes. */
export const GUID: TypeObject = koffi.struct({
  Data1: "uint32_t",
  Data2: "uint16_t",
  Data3: "uint16_t",
  Data4: koffi.array("uint8_t", 8)
})

/** `SYSTEM_INFO` (x64): only `dwPageSize` is read, the rest pins the layout. 48 bytes. */
export const SYSTEM_INFO: TypeObject = koffi.struct({
  dwOemId: DWORD,
  dwPageSize: DWORD,
  lpMinimumApplicationAddress: PVOID,
  lpMaximumApplicationAddress: PVOID,
  dwActiveProcessorMask: ULONG_PTR,
  dwNumberOfProcessors: DWORD,
  dwProcessorType: DWORD,
  dwAllocationGranularity: DWORD,
  wProcessorLevel: "uint16_t",
  wProcessorRevision: "uint16_t"
})

/** `WSADATA` is 408 bytes on x64; only `wVersion` (offset 0) is read. */
export const WSADATA_SIZE = 408

// --- the 13 functions -------------------------------------------------------------------

const stdcall = (result: string, parameters: ReadonlyArray<string | TypeObject>): TypeObject =>
  // `__stdcall` is the Microsoft x64 convention on Windows x64 (and ignored by Koffi on
  // other hosts), so the same prototype serves the layout test on Linux.
  koffi.proto("__stdcall", result, [...parameters])

const PRIO_BUF = koffi.pointer(RIO_BUF)
const PRIORESULT = koffi.pointer(RIORESULT)
const PRIO_NOTIFICATION_COMPLETION = koffi.pointer(RIO_NOTIFICATION_COMPLETION)

/**
 * `__stdcall` prototypes of the 13 RIO functions, keyed by their table member name, in
 * table order.
 */
export const prototypes = {
  /** BOOL RIOReceive(RIO_RQ, PRIO_BUF pData, ULONG DataBufferCount, DWORD Flags, PVOID RequestContext) */
  RIOReceive: stdcall(BOOL, [RIO_RQ, PRIO_BUF, ULONG, DWORD, PVOID]),
  /** int RIOReceiveEx(RIO_RQ, PRIO_BUF pData, ULONG, PRIO_BUF pLocalAddress, PRIO_BUF pRemoteAddress, PRIO_BUF pControlContext, PRIO_BUF pFlags, DWORD Flags, PVOID) */
  RIOReceiveEx: stdcall(INT, [RIO_RQ, PRIO_BUF, ULONG, PRIO_BUF, PRIO_BUF, PRIO_BUF, PRIO_BUF, DWORD, PVOID]),
  /** BOOL RIOSend(RIO_RQ, PRIO_BUF pData, ULONG DataBufferCount, DWORD Flags, PVOID RequestContext) */
  RIOSend: stdcall(BOOL, [RIO_RQ, PRIO_BUF, ULONG, DWORD, PVOID]),
  /** BOOL RIOSendEx(RIO_RQ, PRIO_BUF pData, ULONG, PRIO_BUF pLocalAddress, PRIO_BUF pRemoteAddress, PRIO_BUF pControlContext, PRIO_BUF pFlags, DWORD Flags, PVOID) */
  RIOSendEx: stdcall(BOOL, [RIO_RQ, PRIO_BUF, ULONG, PRIO_BUF, PRIO_BUF, PRIO_BUF, PRIO_BUF, DWORD, PVOID]),
  /** VOID RIOCloseCompletionQueue(RIO_CQ) */
  RIOCloseCompletionQueue: stdcall("void", [RIO_CQ]),
  /** RIO_CQ RIOCreateCompletionQueue(DWORD QueueSize, PRIO_NOTIFICATION_COMPLETION) */
  RIOCreateCompletionQueue: stdcall(RIO_CQ, [DWORD, PRIO_NOTIFICATION_COMPLETION]),
  /** RIO_RQ RIOCreateRequestQueue(SOCKET, ULONG MaxOutstandingReceive, ULONG MaxReceiveDataBuffers, ULONG MaxOutstandingSend, ULONG MaxSendDataBuffers, RIO_CQ ReceiveCQ, RIO_CQ SendCQ, PVOID SocketContext) */
  RIOCreateRequestQueue: stdcall(RIO_RQ, [SOCKET, ULONG, ULONG, ULONG, ULONG, RIO_CQ, RIO_CQ, PVOID]),
  /** ULONG RIODequeueCompletion(RIO_CQ, PRIORESULT Array, ULONG ArraySize) */
  RIODequeueCompletion: stdcall(ULONG, [RIO_CQ, PRIORESULT, ULONG]),
  /** VOID RIODeregisterBuffer(RIO_BUFFERID) */
  RIODeregisterBuffer: stdcall("void", [RIO_BUFFERID]),
  /** INT RIONotify(RIO_CQ): the error code itself, not via WSAGetLastError. */
  RIONotify: stdcall(INT, [RIO_CQ]),
  /** RIO_BUFFERID RIORegisterBuffer(PCHAR DataBuffer, DWORD DataLength) */
  RIORegisterBuffer: stdcall(RIO_BUFFERID, [PCHAR, DWORD]),
  /** BOOL RIOResizeCompletionQueue(RIO_CQ, DWORD QueueSize) */
  RIOResizeCompletionQueue: stdcall(BOOL, [RIO_CQ, DWORD]),
  /** BOOL RIOResizeRequestQueue(RIO_RQ, DWORD MaxOutstandingReceive, DWORD MaxOutstandingSend) */
  RIOResizeRequestQueue: stdcall(BOOL, [RIO_RQ, DWORD, DWORD])
} as const

/** The table member names, in the order of `RIO_EXTENSION_FUNCTION_TABLE` (mswsock.h). */
export type RioFunctionName = keyof typeof prototypes

/** The 13 members in table order; object key order is insertion order, as written above. */
export const functionNames: ReadonlyArray<RioFunctionName> = Object.keys(prototypes) as Array<RioFunctionName>

/**
 * `RIO_EXTENSION_FUNCTION_TABLE`: `DWORD cbSize` then 13 function pointers (the pointer
 * alignment puts the first at 8). 112 bytes. The members are typed as pointers to the
 * prototypes above; Koffi decodes them as bigint addresses, which `koffi.decode(address,
 * prototype)` turns into callable functions.
 */
export const RIO_EXTENSION_FUNCTION_TABLE: TypeObject = koffi.struct({
  cbSize: DWORD,
  ...Object.fromEntries(functionNames.map((name) => [name, koffi.pointer(prototypes[name])]))
})

// --- constants --------------------------------------------------------------------------

/** `WSAID_MULTIPLE_RIO` = {8509e081-96dd-4005-b165-9e2ee8c79e3f}. */
export const WSAID_MULTIPLE_RIO = {
  Data1: 0x8509e081,
  Data2: 0x96dd,
  Data3: 0x4005,
  Data4: [0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f]
} as const

/** The GUID as the 16 bytes WSAIoctl reads. */
export const guidBytes = (guid: typeof WSAID_MULTIPLE_RIO): Uint8Array => {
  const bytes = new Uint8Array(koffi.sizeof(GUID))
  koffi.encode(bytes, GUID, { ...guid, Data4: [...guid.Data4] })
  return bytes
}

/** `_WSAIORW(IOC_WS2, 36)`: IOC_INOUT (0xC0000000) | IOC_WS2 (0x08000000) | 36. */
export const SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER = 0xC8000024
export const WSA_FLAG_OVERLAPPED = 0x01
export const WSA_FLAG_REGISTERED_IO = 0x100
/** `(RIO_BUFFERID)(ULONG_PTR)0xFFFFFFFF`: neither -1 (0xFFFF…FFFF on x64) nor 0. */
export const RIO_INVALID_BUFFERID = 0xFFFFFFFFn
export const RIO_INVALID_CQ = 0n
export const RIO_INVALID_RQ = 0n
/** What RIODequeueCompletion returns for a corrupt or unknown queue (a ULONG). */
export const RIO_CORRUPT_CQ = 0xFFFFFFFF
export const RIO_MAX_CQ_SIZE = 0x8000000
export const RIO_MSG_DONT_NOTIFY = 0x1
export const RIO_MSG_DEFER = 0x2
export const RIO_MSG_WAITALL = 0x4
export const RIO_MSG_COMMIT_ONLY = 0x8
export const RIO_EVENT_COMPLETION = 1
export const RIO_IOCP_COMPLETION = 2

/** `~(SOCKET)0`. */
export const INVALID_SOCKET = 0xFFFFFFFFFFFFFFFFn
export const SOCKET_ERROR = -1
export const AF_INET = 2
export const SOCK_DGRAM = 2
export const IPPROTO_UDP = 17

export const MEM_COMMIT = 0x1000
export const MEM_RESERVE = 0x2000
export const MEM_DECOMMIT = 0x4000
export const MEM_RELEASE = 0x8000
export const PAGE_READWRITE = 0x04

/** Win32 errors that mean "out of memory" for VirtualAlloc. */
export const ERROR_NOT_ENOUGH_MEMORY = 8
export const ERROR_COMMITMENT_LIMIT = 1455

/** Winsock error codes used here (winerror.h). */
export const WSAEFAULT = 10014
export const WSAEINVAL = 10022
export const WSAEALREADY = 10037
export const WSAENOTSOCK = 10038
export const WSAEOPNOTSUPP = 10045
export const WSAENOBUFS = 10055
export const WSAETOOMANYREFS = 10059
export const WSAVERNOTSUPPORTED = 10092

/** `MAKEWORD(2, 2)`. */
export const WINSOCK_2_2 = 0x0202

// --- helpers ----------------------------------------------------------------------------

/** Koffi returns 64-bit integers as number or bigint depending on magnitude. */
export const toBigInt = (value: unknown): bigint =>
  typeof value === "bigint" ? value : value === null || value === undefined ? 0n : BigInt(value as number)

// Koffi 3.3 describes each prototype argument as `{ type, direction }` at run time, while
// its typings still say `TypeObject`: accept both.
const parameterSize = (argument: TypeObject | { readonly type: TypeObject }): number =>
  "type" in argument && typeof argument.type === "object" ? argument.type.size : (argument as TypeObject).size

const offsets = (type: TypeObject): Record<string, number> =>
  Object.fromEntries(Object.keys(type.members ?? {}).map((name) => [name, koffi.offsetof(type, name)]))

/**
 * The layout facts as Koffi computes them from the definitions above: what
 * `layout.test.ts` compares with the numbers from the headers.
 */
export const layout = {
  RIO_BUF: { size: koffi.sizeof(RIO_BUF), align: koffi.alignof(RIO_BUF), offsets: offsets(RIO_BUF) },
  RIORESULT: { size: koffi.sizeof(RIORESULT), align: koffi.alignof(RIORESULT), offsets: offsets(RIORESULT) },
  RIO_NOTIFICATION_COMPLETION: {
    size: koffi.sizeof(RIO_NOTIFICATION_COMPLETION),
    align: koffi.alignof(RIO_NOTIFICATION_COMPLETION),
    offsets: {
      Type: koffi.offsetof(RIO_NOTIFICATION_COMPLETION, "Type"),
      "Event.EventHandle": koffi.offsetof(RIO_NOTIFICATION_COMPLETION, "u") +
        koffi.offsetof(RIO_NOTIFICATION_COMPLETION_EVENT, "EventHandle"),
      "Event.NotifyReset": koffi.offsetof(RIO_NOTIFICATION_COMPLETION, "u") +
        koffi.offsetof(RIO_NOTIFICATION_COMPLETION_EVENT, "NotifyReset"),
      "Iocp.IocpHandle": koffi.offsetof(RIO_NOTIFICATION_COMPLETION, "u") +
        koffi.offsetof(RIO_NOTIFICATION_COMPLETION_IOCP, "IocpHandle"),
      "Iocp.CompletionKey": koffi.offsetof(RIO_NOTIFICATION_COMPLETION, "u") +
        koffi.offsetof(RIO_NOTIFICATION_COMPLETION_IOCP, "CompletionKey"),
      "Iocp.Overlapped": koffi.offsetof(RIO_NOTIFICATION_COMPLETION, "u") +
        koffi.offsetof(RIO_NOTIFICATION_COMPLETION_IOCP, "Overlapped")
    }
  },
  RIO_EXTENSION_FUNCTION_TABLE: {
    size: koffi.sizeof(RIO_EXTENSION_FUNCTION_TABLE),
    align: koffi.alignof(RIO_EXTENSION_FUNCTION_TABLE),
    offsets: offsets(RIO_EXTENSION_FUNCTION_TABLE)
  },
  SYSTEM_INFO: { size: koffi.sizeof(SYSTEM_INFO), align: koffi.alignof(SYSTEM_INFO), offsets: offsets(SYSTEM_INFO) },
  GUID: { size: koffi.sizeof(GUID), align: koffi.alignof(GUID), offsets: offsets(GUID) },
  scalars: {
    ULONG: koffi.sizeof(ULONG),
    DWORD: koffi.sizeof(DWORD),
    LONG: koffi.sizeof(LONG),
    BOOL: koffi.sizeof(BOOL),
    ULONG_PTR: koffi.sizeof(ULONG_PTR),
    SOCKET: koffi.sizeof(SOCKET),
    HANDLE: koffi.sizeof(HANDLE),
    RIO_BUFFERID: koffi.sizeof(RIO_BUFFERID),
    RIO_CQ: koffi.sizeof(RIO_CQ),
    RIO_RQ: koffi.sizeof(RIO_RQ)
  },
  /** Parameter and result sizes of each prototype, in declaration order. */
  prototypes: Object.fromEntries(
    functionNames.map((name) => {
      const proto = prototypes[name].proto!
      return [name, { result: proto.result.size, parameters: proto.arguments.map(parameterSize) }]
    })
  ) as unknown as Record<RioFunctionName, { readonly result: number; readonly parameters: ReadonlyArray<number> }>,
  WSAID_MULTIPLE_RIO: Array.from(guidBytes(WSAID_MULTIPLE_RIO)),
  constants: {
    SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
    WSA_FLAG_OVERLAPPED,
    WSA_FLAG_REGISTERED_IO,
    RIO_INVALID_BUFFERID,
    RIO_INVALID_CQ,
    RIO_INVALID_RQ,
    RIO_CORRUPT_CQ,
    RIO_MAX_CQ_SIZE,
    RIO_MSG_DONT_NOTIFY,
    RIO_MSG_DEFER,
    RIO_MSG_WAITALL,
    RIO_MSG_COMMIT_ONLY,
    RIO_EVENT_COMPLETION,
    RIO_IOCP_COMPLETION,
    INVALID_SOCKET,
    SOCKET_ERROR,
    AF_INET,
    SOCK_DGRAM,
    IPPROTO_UDP,
    MEM_COMMIT,
    MEM_RESERVE,
    MEM_DECOMMIT,
    MEM_RELEASE,
    PAGE_READWRITE,
    WSAEFAULT,
    WSAEINVAL,
    WSAEOPNOTSUPP,
    WSAENOBUFS
  }
} as const
