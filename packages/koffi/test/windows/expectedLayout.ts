/**
 * The Windows x64 layout facts the binding is checked against: from the Windows SDK headers
 * and Microsoft's documentation, written down once for the Koffi check (every platform) and
 * the C compiler check (under Wine).
 */

export const expected = {
  RIO_BUF: { size: 16, align: 8, offsets: { BufferId: 0, Offset: 8, Length: 12 } },
  RIORESULT: { size: 24, align: 8, offsets: { Status: 0, BytesTransferred: 4, SocketContext: 8, RequestContext: 16 } },
  RIO_NOTIFICATION_COMPLETION: {
    size: 32,
    align: 8,
    offsets: {
      Type: 0,
      "Event.EventHandle": 8,
      "Event.NotifyReset": 16,
      "Iocp.IocpHandle": 8,
      "Iocp.CompletionKey": 16,
      "Iocp.Overlapped": 24
    }
  },
  RIO_EXTENSION_FUNCTION_TABLE: {
    size: 112,
    align: 8,
    offsets: {
      cbSize: 0,
      RIOReceive: 8,
      RIOReceiveEx: 16,
      RIOSend: 24,
      RIOSendEx: 32,
      RIOCloseCompletionQueue: 40,
      RIOCreateCompletionQueue: 48,
      RIOCreateRequestQueue: 56,
      RIODequeueCompletion: 64,
      RIODeregisterBuffer: 72,
      RIONotify: 80,
      RIORegisterBuffer: 88,
      RIOResizeCompletionQueue: 96,
      RIOResizeRequestQueue: 104
    }
  },
  SYSTEM_INFO: {
    size: 48,
    align: 8,
    offsets: {
      dwOemId: 0,
      dwPageSize: 4,
      lpMinimumApplicationAddress: 8,
      lpMaximumApplicationAddress: 16,
      dwActiveProcessorMask: 24,
      dwNumberOfProcessors: 32,
      dwProcessorType: 36,
      dwAllocationGranularity: 40,
      wProcessorLevel: 44,
      wProcessorRevision: 46
    }
  },
  GUID: { size: 16, align: 4, offsets: { Data1: 0, Data2: 4, Data3: 6, Data4: 8 } },
  scalars: {
    ULONG: 4,
    DWORD: 4,
    LONG: 4,
    BOOL: 4,
    ULONG_PTR: 8,
    SOCKET: 8,
    HANDLE: 8,
    RIO_BUFFERID: 8,
    RIO_CQ: 8,
    RIO_RQ: 8
  },
  // {8509e081-96dd-4005-b165-9e2ee8c79e3f}: Data1..Data3 little-endian, then Data4 as is.
  WSAID_MULTIPLE_RIO: [0x81, 0xe0, 0x09, 0x85, 0xdd, 0x96, 0x05, 0x40, 0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f],
  constants: {
    SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER: 0xC8000024,
    WSA_FLAG_OVERLAPPED: 0x01,
    WSA_FLAG_REGISTERED_IO: 0x100,
    RIO_INVALID_BUFFERID: 0xFFFFFFFFn,
    RIO_INVALID_CQ: 0n,
    RIO_INVALID_RQ: 0n,
    RIO_CORRUPT_CQ: 0xFFFFFFFF,
    RIO_MAX_CQ_SIZE: 0x8000000,
    RIO_MSG_DONT_NOTIFY: 1,
    RIO_MSG_DEFER: 2,
    RIO_MSG_WAITALL: 4,
    RIO_MSG_COMMIT_ONLY: 8,
    RIO_EVENT_COMPLETION: 1,
    RIO_IOCP_COMPLETION: 2,
    INVALID_SOCKET: 0xFFFFFFFFFFFFFFFFn,
    SOCKET_ERROR: -1,
    AF_INET: 2,
    SOCK_DGRAM: 2,
    IPPROTO_UDP: 17,
    MEM_COMMIT: 0x1000,
    MEM_RESERVE: 0x2000,
    MEM_DECOMMIT: 0x4000,
    MEM_RELEASE: 0x8000,
    PAGE_READWRITE: 0x04,
    WSAEFAULT: 10014,
    WSAEINVAL: 10022,
    WSAEOPNOTSUPP: 10045,
    WSAENOBUFS: 10055
  }
} as const

/** Parameter sizes of the 13 prototypes (x64: every handle and pointer is 8 bytes). */

export const expectedPrototypes = {
  RIOReceive: { result: 4, parameters: [8, 8, 4, 4, 8] },
  RIOReceiveEx: { result: 4, parameters: [8, 8, 4, 8, 8, 8, 8, 4, 8] },
  RIOSend: { result: 4, parameters: [8, 8, 4, 4, 8] },
  RIOSendEx: { result: 4, parameters: [8, 8, 4, 8, 8, 8, 8, 4, 8] },
  RIOCloseCompletionQueue: { result: 0, parameters: [8] },
  RIOCreateCompletionQueue: { result: 8, parameters: [4, 8] },
  RIOCreateRequestQueue: { result: 8, parameters: [8, 4, 4, 4, 4, 8, 8, 8] },
  RIODequeueCompletion: { result: 4, parameters: [8, 8, 4] },
  RIODeregisterBuffer: { result: 0, parameters: [8] },
  RIONotify: { result: 4, parameters: [8] },
  RIORegisterBuffer: { result: 8, parameters: [8, 4] },
  RIOResizeCompletionQueue: { result: 4, parameters: [8, 4] },
  RIOResizeRequestQueue: { result: 4, parameters: [8, 4, 4] }
} as const

export const structs = [
  "RIO_BUF",
  "RIORESULT",
  "RIO_NOTIFICATION_COMPLETION",
  "RIO_EXTENSION_FUNCTION_TABLE",
  "SYSTEM_INFO",
  "GUID"
] as const
