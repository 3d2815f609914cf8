/*
 * The Winsock Registered I/O ABI, for the mingw-w64 builds in this directory.
 *
 * mingw-w64 10.0 (Debian 12's gcc-mingw-w64-x86-64) ships a mswsock.h without any RIO
 * declarations; newer mingw-w64 releases and the Windows SDK (mswsockdef.h + mswsock.h)
 * have them. When the toolchain's headers declare RIO we use theirs, so they stay the
 * authority; otherwise the block below supplies the same ABI, written from Microsoft's
 * documentation of mswsockdef.h/mswsock.h (RIO_BUF, RIORESULT, RIO_NOTIFICATION_COMPLETION,
 * RIO_EXTENSION_FUNCTION_TABLE and the LPFN_RIO* prototypes). layout.c prints which of the
 * two was used.
 *
 * Facts that public code gets wrong, and that this file pins:
 *   - RIO_INVALID_BUFFERID is (ULONG_PTR)0xFFFFFFFF: not -1, not 0;
 *   - ULONG/DWORD/LONG are 32-bit on Windows x64 (LLP64);
 *   - the table starts with DWORD cbSize, then 13 pointers in the order below (112 bytes).
 */
#ifndef EFFECT_RIO_ABI_H
#define EFFECT_RIO_ABI_H

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>

#ifndef SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER
#define SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER _WSAIORW(IOC_WS2, 36)
#endif

#ifndef WSA_FLAG_REGISTERED_IO
#define WSA_FLAG_REGISTERED_IO 0x100
#endif

#if defined(RIO_INVALID_BUFFERID)
#define EFFECT_RIO_ABI_SOURCE "toolchain mswsock.h"
#else
#define EFFECT_RIO_ABI_SOURCE "test/wine/rio_abi.h (from Microsoft's mswsockdef.h/mswsock.h documentation)"

typedef struct RIO_BUFFERID_t *RIO_BUFFERID, **PRIO_BUFFERID;
typedef struct RIO_CQ_t *RIO_CQ, **PRIO_CQ;
typedef struct RIO_RQ_t *RIO_RQ, **PRIO_RQ;

typedef struct _RIORESULT {
    LONG Status;
    ULONG BytesTransferred;
    ULONGLONG SocketContext;
    ULONGLONG RequestContext;
} RIORESULT, *PRIORESULT;

typedef struct _RIO_BUF {
    RIO_BUFFERID BufferId;
    ULONG Offset;
    ULONG Length;
} RIO_BUF, *PRIO_BUF;

#define RIO_MSG_DONT_NOTIFY 0x00000001
#define RIO_MSG_DEFER 0x00000002
#define RIO_MSG_WAITALL 0x00000004
#define RIO_MSG_COMMIT_ONLY 0x00000008

#define RIO_INVALID_BUFFERID ((RIO_BUFFERID)(ULONG_PTR)0xFFFFFFFF)
#define RIO_INVALID_CQ ((RIO_CQ)0)
#define RIO_INVALID_RQ ((RIO_RQ)0)

#define RIO_MAX_CQ_SIZE 0x8000000
#define RIO_CORRUPT_CQ 0xFFFFFFFF

typedef struct _RIO_CMSG_BUFFER {
    ULONG TotalLength;
} RIO_CMSG_BUFFER, *PRIO_CMSG_BUFFER;

typedef enum _RIO_NOTIFICATION_COMPLETION_TYPE {
    RIO_EVENT_COMPLETION = 1,
    RIO_IOCP_COMPLETION = 2
} RIO_NOTIFICATION_COMPLETION_TYPE, *PRIO_NOTIFICATION_COMPLETION_TYPE;

typedef struct _RIO_NOTIFICATION_COMPLETION {
    RIO_NOTIFICATION_COMPLETION_TYPE Type;
    union {
        struct {
            HANDLE EventHandle;
            BOOL NotifyReset;
        } Event;
        struct {
            HANDLE IocpHandle;
            PVOID CompletionKey;
            PVOID Overlapped;
        } Iocp;
    };
} RIO_NOTIFICATION_COMPLETION, *PRIO_NOTIFICATION_COMPLETION;

typedef BOOL (PASCAL *LPFN_RIORECEIVE)(RIO_RQ SocketQueue, PRIO_BUF pData, ULONG DataBufferCount, DWORD Flags,
                                       PVOID RequestContext);
typedef int (PASCAL *LPFN_RIORECEIVEEX)(RIO_RQ SocketQueue, PRIO_BUF pData, ULONG DataBufferCount,
                                        PRIO_BUF pLocalAddress, PRIO_BUF pRemoteAddress, PRIO_BUF pControlContext,
                                        PRIO_BUF pFlags, DWORD Flags, PVOID RequestContext);
typedef BOOL (PASCAL *LPFN_RIOSEND)(RIO_RQ SocketQueue, PRIO_BUF pData, ULONG DataBufferCount, DWORD Flags,
                                    PVOID RequestContext);
typedef BOOL (PASCAL *LPFN_RIOSENDEX)(RIO_RQ SocketQueue, PRIO_BUF pData, ULONG DataBufferCount,
                                      PRIO_BUF pLocalAddress, PRIO_BUF pRemoteAddress, PRIO_BUF pControlContext,
                                      PRIO_BUF pFlags, DWORD Flags, PVOID RequestContext);
typedef VOID (PASCAL *LPFN_RIOCLOSECOMPLETIONQUEUE)(RIO_CQ CQ);
typedef RIO_CQ (PASCAL *LPFN_RIOCREATECOMPLETIONQUEUE)(DWORD QueueSize,
                                                       PRIO_NOTIFICATION_COMPLETION NotificationCompletion);
typedef RIO_RQ (PASCAL *LPFN_RIOCREATEREQUESTQUEUE)(SOCKET Socket, ULONG MaxOutstandingReceive,
                                                    ULONG MaxReceiveDataBuffers, ULONG MaxOutstandingSend,
                                                    ULONG MaxSendDataBuffers, RIO_CQ ReceiveCQ, RIO_CQ SendCQ,
                                                    PVOID SocketContext);
typedef ULONG (PASCAL *LPFN_RIODEQUEUECOMPLETION)(RIO_CQ CQ, PRIORESULT Array, ULONG ArraySize);
typedef VOID (PASCAL *LPFN_RIODEREGISTERBUFFER)(RIO_BUFFERID BufferId);
typedef INT (PASCAL *LPFN_RIONOTIFY)(RIO_CQ CQ);
typedef RIO_BUFFERID (PASCAL *LPFN_RIOREGISTERBUFFER)(PCHAR DataBuffer, DWORD DataLength);
typedef BOOL (PASCAL *LPFN_RIORESIZECOMPLETIONQUEUE)(RIO_CQ CQ, DWORD QueueSize);
typedef BOOL (PASCAL *LPFN_RIORESIZEREQUESTQUEUE)(RIO_RQ RQ, DWORD MaxOutstandingReceive, DWORD MaxOutstandingSend);

typedef struct _RIO_EXTENSION_FUNCTION_TABLE {
    DWORD cbSize;
    LPFN_RIORECEIVE RIOReceive;
    LPFN_RIORECEIVEEX RIOReceiveEx;
    LPFN_RIOSEND RIOSend;
    LPFN_RIOSENDEX RIOSendEx;
    LPFN_RIOCLOSECOMPLETIONQUEUE RIOCloseCompletionQueue;
    LPFN_RIOCREATECOMPLETIONQUEUE RIOCreateCompletionQueue;
    LPFN_RIOCREATEREQUESTQUEUE RIOCreateRequestQueue;
    LPFN_RIODEQUEUECOMPLETION RIODequeueCompletion;
    LPFN_RIODEREGISTERBUFFER RIODeregisterBuffer;
    LPFN_RIONOTIFY RIONotify;
    LPFN_RIOREGISTERBUFFER RIORegisterBuffer;
    LPFN_RIORESIZECOMPLETIONQUEUE RIOResizeCompletionQueue;
    LPFN_RIORESIZEREQUESTQUEUE RIOResizeRequestQueue;
} RIO_EXTENSION_FUNCTION_TABLE, *PRIO_EXTENSION_FUNCTION_TABLE;

#define WSAID_MULTIPLE_RIO {0x8509e081, 0x96dd, 0x4005, {0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f}}
#endif /* RIO_INVALID_BUFFERID */

/*
 * The reference provider's own exports (test/wine/rio_reference.c). Not part of Winsock:
 * the effect-rio Windows driver looks up RioReferenceGetFunctionTable only when it is
 * given a provider DLL, as a seam for ABI testing.
 */
typedef struct _RIO_REFERENCE_STATS {
    ULONGLONG LiveRegistrations;
    ULONGLONG RegisteredBytes;
    ULONGLONG LockedPages;
    ULONGLONG TotalRegistrations;
    ULONGLONG TotalDeregistrations;
    ULONGLONG InvalidDeregistrations;
    ULONGLONG DeregistrationsWithIoOutstanding;
    ULONGLONG LiveCompletionQueues;
    ULONGLONG LiveRequestQueues;
    ULONGLONG OutstandingRequests;
} RIO_REFERENCE_STATS, *PRIO_REFERENCE_STATS;

typedef int (WINAPI *LPFN_RIOREFERENCEGETFUNCTIONTABLE)(PRIO_EXTENSION_FUNCTION_TABLE Table, DWORD TableLength,
                                                        LPDWORD BytesReturned);

#endif /* EFFECT_RIO_ABI_H */
