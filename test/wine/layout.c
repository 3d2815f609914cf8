/*
 * Prints the Windows x64 sizes, offsets and constants of the RIO ABI as JSON, computed by
 * the C compiler from the headers (see rio_abi.h for which headers). The expected numbers
 * in packages/koffi/test/windows/layout.test.ts are literals; run.sh compares them with
 * this program's output under Wine, so the Koffi definitions, the literals and a real
 * Windows x64 compiler all have to agree.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "rio_abi.h"

#define SIZE(T) printf("    \"" #T "\": { \"size\": %u, \"align\": %u, \"offsets\": {", (unsigned)sizeof(T), (unsigned)_Alignof(T))
#define OFF(T, M, SEP) printf("\"" #M "\": %u" SEP, (unsigned)offsetof(T, M))
#define END(SEP) printf("} }" SEP "\n")

int main(void)
{
    static const GUID rio = WSAID_MULTIPLE_RIO;
    unsigned char guid[sizeof(GUID)];
    memcpy(guid, &rio, sizeof guid);

    printf("{\n  \"source\": \"%s\",\n  \"types\": {\n", EFFECT_RIO_ABI_SOURCE);

    SIZE(RIO_BUF);
    OFF(RIO_BUF, BufferId, ", ");
    OFF(RIO_BUF, Offset, ", ");
    OFF(RIO_BUF, Length, "");
    END(",");

    SIZE(RIORESULT);
    OFF(RIORESULT, Status, ", ");
    OFF(RIORESULT, BytesTransferred, ", ");
    OFF(RIORESULT, SocketContext, ", ");
    OFF(RIORESULT, RequestContext, "");
    END(",");

    SIZE(RIO_NOTIFICATION_COMPLETION);
    OFF(RIO_NOTIFICATION_COMPLETION, Type, ", ");
    OFF(RIO_NOTIFICATION_COMPLETION, Event.EventHandle, ", ");
    OFF(RIO_NOTIFICATION_COMPLETION, Event.NotifyReset, ", ");
    OFF(RIO_NOTIFICATION_COMPLETION, Iocp.IocpHandle, ", ");
    OFF(RIO_NOTIFICATION_COMPLETION, Iocp.CompletionKey, ", ");
    OFF(RIO_NOTIFICATION_COMPLETION, Iocp.Overlapped, "");
    END(",");

    SIZE(RIO_EXTENSION_FUNCTION_TABLE);
    OFF(RIO_EXTENSION_FUNCTION_TABLE, cbSize, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOReceive, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOReceiveEx, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOSend, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOSendEx, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOCloseCompletionQueue, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOCreateCompletionQueue, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOCreateRequestQueue, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIODequeueCompletion, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIODeregisterBuffer, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIONotify, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIORegisterBuffer, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOResizeCompletionQueue, ", ");
    OFF(RIO_EXTENSION_FUNCTION_TABLE, RIOResizeRequestQueue, "");
    END(",");

    SIZE(SYSTEM_INFO);
    OFF(SYSTEM_INFO, dwOemId, ", ");
    OFF(SYSTEM_INFO, dwPageSize, ", ");
    OFF(SYSTEM_INFO, lpMinimumApplicationAddress, ", ");
    OFF(SYSTEM_INFO, lpMaximumApplicationAddress, ", ");
    OFF(SYSTEM_INFO, dwActiveProcessorMask, ", ");
    OFF(SYSTEM_INFO, dwNumberOfProcessors, ", ");
    OFF(SYSTEM_INFO, dwProcessorType, ", ");
    OFF(SYSTEM_INFO, dwAllocationGranularity, ", ");
    OFF(SYSTEM_INFO, wProcessorLevel, ", ");
    OFF(SYSTEM_INFO, wProcessorRevision, "");
    END(",");

    SIZE(WSADATA);
    OFF(WSADATA, wVersion, ", ");
    OFF(WSADATA, wHighVersion, "");
    END(",");

    SIZE(GUID);
    OFF(GUID, Data1, ", ");
    OFF(GUID, Data2, ", ");
    OFF(GUID, Data3, ", ");
    OFF(GUID, Data4, "");
    END(",");

    SIZE(RIO_REFERENCE_STATS);
    OFF(RIO_REFERENCE_STATS, LiveRegistrations, ", ");
    OFF(RIO_REFERENCE_STATS, OutstandingRequests, "");
    END("");

    printf("  },\n  \"scalars\": { \"ULONG\": %u, \"DWORD\": %u, \"LONG\": %u, \"BOOL\": %u, \"ULONG_PTR\": %u, "
           "\"SOCKET\": %u, \"HANDLE\": %u, \"RIO_BUFFERID\": %u, \"RIO_CQ\": %u, \"RIO_RQ\": %u, "
           "\"RIO_NOTIFICATION_COMPLETION_TYPE\": %u },\n",
           (unsigned)sizeof(ULONG), (unsigned)sizeof(DWORD), (unsigned)sizeof(LONG), (unsigned)sizeof(BOOL),
           (unsigned)sizeof(ULONG_PTR), (unsigned)sizeof(SOCKET), (unsigned)sizeof(HANDLE),
           (unsigned)sizeof(RIO_BUFFERID), (unsigned)sizeof(RIO_CQ), (unsigned)sizeof(RIO_RQ),
           (unsigned)sizeof(RIO_NOTIFICATION_COMPLETION_TYPE));

    printf("  \"constants\": {\n");
    printf("    \"SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER\": %lu,\n",
           (unsigned long)SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER);
    printf("    \"WSA_FLAG_OVERLAPPED\": %lu,\n", (unsigned long)WSA_FLAG_OVERLAPPED);
    printf("    \"WSA_FLAG_REGISTERED_IO\": %lu,\n", (unsigned long)WSA_FLAG_REGISTERED_IO);
    printf("    \"RIO_INVALID_BUFFERID\": \"%llu\",\n", (unsigned long long)(ULONG_PTR)RIO_INVALID_BUFFERID);
    printf("    \"RIO_INVALID_CQ\": \"%llu\",\n", (unsigned long long)(ULONG_PTR)RIO_INVALID_CQ);
    printf("    \"RIO_INVALID_RQ\": \"%llu\",\n", (unsigned long long)(ULONG_PTR)RIO_INVALID_RQ);
    printf("    \"RIO_CORRUPT_CQ\": %lu,\n", (unsigned long)RIO_CORRUPT_CQ);
    printf("    \"RIO_MAX_CQ_SIZE\": %lu,\n", (unsigned long)RIO_MAX_CQ_SIZE);
    printf("    \"RIO_MSG_DONT_NOTIFY\": %lu,\n", (unsigned long)RIO_MSG_DONT_NOTIFY);
    printf("    \"RIO_MSG_DEFER\": %lu,\n", (unsigned long)RIO_MSG_DEFER);
    printf("    \"RIO_MSG_WAITALL\": %lu,\n", (unsigned long)RIO_MSG_WAITALL);
    printf("    \"RIO_MSG_COMMIT_ONLY\": %lu,\n", (unsigned long)RIO_MSG_COMMIT_ONLY);
    printf("    \"RIO_EVENT_COMPLETION\": %lu,\n", (unsigned long)RIO_EVENT_COMPLETION);
    printf("    \"RIO_IOCP_COMPLETION\": %lu,\n", (unsigned long)RIO_IOCP_COMPLETION);
    printf("    \"INVALID_SOCKET\": \"%llu\",\n", (unsigned long long)INVALID_SOCKET);
    printf("    \"SOCKET_ERROR\": %d,\n", SOCKET_ERROR);
    printf("    \"AF_INET\": %d,\n", AF_INET);
    printf("    \"SOCK_DGRAM\": %d,\n", SOCK_DGRAM);
    printf("    \"IPPROTO_UDP\": %d,\n", IPPROTO_UDP);
    printf("    \"MEM_COMMIT\": %lu,\n", (unsigned long)MEM_COMMIT);
    printf("    \"MEM_RESERVE\": %lu,\n", (unsigned long)MEM_RESERVE);
    printf("    \"MEM_DECOMMIT\": %lu,\n", (unsigned long)MEM_DECOMMIT);
    printf("    \"MEM_RELEASE\": %lu,\n", (unsigned long)MEM_RELEASE);
    printf("    \"PAGE_READWRITE\": %lu,\n", (unsigned long)PAGE_READWRITE);
    printf("    \"WSAEFAULT\": %d,\n", WSAEFAULT);
    printf("    \"WSAEINVAL\": %d,\n", WSAEINVAL);
    printf("    \"WSAEOPNOTSUPP\": %d,\n", WSAEOPNOTSUPP);
    printf("    \"WSAENOBUFS\": %d,\n", WSAENOBUFS);
    printf("    \"WSAETOOMANYREFS\": %d,\n", WSAETOOMANYREFS);
    printf("    \"WSAEALREADY\": %d,\n", WSAEALREADY);
    printf("    \"WSAENOTSOCK\": %d\n", WSAENOTSOCK);
    /* The socket options of packages/koffi/src/internal/windows/options.ts (TCP_KEEPALIVE, 3,
       is not in mingw-w64's headers: it is checked against Microsoft's documentation only). */
    printf("  },\n  \"socketOptions\": {\n");
    printf("    \"SOL_SOCKET\": %d, \"SO_REUSEADDR\": %d, \"SO_KEEPALIVE\": %d, \"SO_BROADCAST\": %d,\n",
           SOL_SOCKET, SO_REUSEADDR, SO_KEEPALIVE, SO_BROADCAST);
    printf("    \"SO_SNDBUF\": %d, \"SO_RCVBUF\": %d, \"IPPROTO_IP\": %d, \"IPPROTO_TCP\": %d, \"IPPROTO_IPV6\": %d,\n",
           SO_SNDBUF, SO_RCVBUF, IPPROTO_IP, IPPROTO_TCP, IPPROTO_IPV6);
    printf("    \"TCP_NODELAY\": %d, \"IP_TTL\": %d, \"IP_MULTICAST_TTL\": %d, \"IP_MULTICAST_LOOP\": %d,\n",
           TCP_NODELAY, IP_TTL, IP_MULTICAST_TTL, IP_MULTICAST_LOOP);
    printf("    \"IP_ADD_MEMBERSHIP\": %d, \"IP_DROP_MEMBERSHIP\": %d, \"IPV6_UNICAST_HOPS\": %d,\n",
           IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IPV6_UNICAST_HOPS);
    printf("    \"IPV6_MULTICAST_HOPS\": %d, \"IPV6_MULTICAST_LOOP\": %d, \"IPV6_ADD_MEMBERSHIP\": %d,\n",
           IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP, IPV6_ADD_MEMBERSHIP);
    printf("    \"IPV6_DROP_MEMBERSHIP\": %d, \"IPV6_V6ONLY\": %d,\n", IPV6_DROP_MEMBERSHIP, IPV6_V6ONLY);
    printf("    \"sizeof ip_mreq\": %u, \"sizeof ipv6_mreq\": %u\n",
           (unsigned)sizeof(struct ip_mreq), (unsigned)sizeof(struct ipv6_mreq));
    printf("  },\n  \"WSAID_MULTIPLE_RIO\": [");
    for (size_t i = 0; i < sizeof guid; i++)
        printf("%s%u", i ? ", " : "", guid[i]);
    printf("]\n}\n");
    return 0;
}
