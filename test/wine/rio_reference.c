/*
 * rio_reference.dll — a reference Registered I/O provider for ABI tests under Wine.
 *
 * Wine implements no RIO: WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
 * WSAID_MULTIPLE_RIO) answers WSAEOPNOTSUPP. This DLL fills the same
 * RIO_EXTENSION_FUNCTION_TABLE with 13 functions that follow Microsoft's documented
 * semantics (argument checks, error codes through WSASetLastError, return sentinels), so
 * that every line of the effect-rio Koffi binding — decoding the table, calling the
 * function pointers with the Windows x64 convention, reading WSAGetLastError right after —
 * runs for real under Windows Node.
 *
 * What it models, and how:
 *   - RIORegisterBuffer checks the whole range with VirtualQuery (committed, writable
 *     pages; NULL or unmapped -> WSAEFAULT), a zero length is WSAEINVAL, and a resource
 *     limit (registrations, registered bytes; see RioReferenceSetLimits) is WSAENOBUFS.
 *     Ids are pointers to heap records — never small integers, never 0xFFFFFFFF — and are
 *     looked up in a hash set before use, so a bogus id is never dereferenced.
 *   - RIODeregisterBuffer ignores unknown ids as documented, but sets WSAEINVAL so callers
 *     can detect the mistake. Deregistering with I/O outstanding is counted as a violation
 *     (undefined behaviour on Windows); the record lives on until those completions are
 *     dequeued, so the model itself never touches freed memory.
 *   - Completion queues hold RIORESULTs in a ring; request queues reserve their
 *     outstanding sends/receives in their CQs at creation (WSAENOBUFS when they do not
 *     fit). A request keeps its buffer registrations "in use" until its completion is
 *     dequeued, as the RIODequeueCompletion documentation says.
 *   - A request queue over a bound UDP or connected TCP socket moves real bytes: each
 *     committed request is one overlapped WSASend/WSARecv (WSASendTo/WSARecvFrom) on its
 *     own slice, completed through an I/O completion port drained by a worker thread, so
 *     requests complete in order, as the network allows, and closesocket aborts the rest
 *     (see "Real sockets").
 *   - A queue over an unbound socket moves data in a loopback model: a send is delivered to
 *     the request queue's peer (itself unless RioReferenceConnect paired two queues) — into
 *     the oldest posted receive, or queued as a datagram until one is posted — and
 *     completes at once.
 *     RIO_MSG_DEFER holds requests until a later non-deferred call or RIO_MSG_COMMIT_ONLY.
 *   - RIONotify arms the CQ's event or IOCP notification, which fires once for the next
 *     completion without RIO_MSG_DONT_NOTIFY (at once if one is already queued).
 *   - A request queue lives as long as its socket: once closesocket has run, the next use
 *     of the queue finds the socket gone, aborts its pending receives
 *     (WSA_OPERATION_ABORTED) and releases its reservations.
 *
 * Not Winsock: RioReferenceGetFunctionTable (the entry point the driver's provider seam
 * calls instead of WSAIoctl), RioReferenceGetStats (leak checks), RioReferenceSetLimits
 * (to provoke WSAENOBUFS), RioReferenceFailNextRegistration (any other error code),
 * RioReferenceConnect (pairs two request queues), and for tests that check what a caller
 * did: RioReferenceFunctionTableRequests (how often the table was handed out) and
 * RioReferenceFindRegistration (the id of the registration at an address).
 *
 * Build: x86_64-w64-mingw32-gcc -shared -o build/rio_reference.dll rio_reference.c -lws2_32
 */
/* GetQueuedCompletionStatusEx is declared for Vista and later. */
#define _WIN32_WINNT 0x0602

#include <stdlib.h>
#include <string.h>

#include "rio_abi.h"

#define REF_EXPORT __declspec(dllexport)

#ifndef WSA_OPERATION_ABORTED
#define WSA_OPERATION_ABORTED 995
#endif

#define MAX_QUEUED_DATAGRAMS 256
#define SOCKADDR_INET_SIZE 28

/* ---------------------------------------------------------------------------------- */
/* State                                                                              */
/* ---------------------------------------------------------------------------------- */

typedef struct ref_buffer {
    char *base;
    DWORD length;
    ULONGLONG pages;
    LONG pending;  /* requests using it whose completion is not dequeued yet */
    BOOL live;     /* FALSE once deregistered (then freed when pending reaches 0) */
} ref_buffer;

struct ref_rq;

/* A real socket's request in flight as one overlapped operation (see "Real sockets"). */
typedef struct ref_overlapped_request {
    OVERLAPPED overlapped;
    WSABUF data;
    struct sockaddr_storage from;
    INT from_length;
    DWORD receive_flags;
} ref_overlapped_request;

typedef struct ref_request {
    ref_overlapped_request io;  /* first: the completion port hands back &io.overlapped */
    struct ref_request *next;
    struct ref_rq *rq;
    BOOL is_send;
    DWORD flags;
    PVOID context;
    RIO_BUF slices[5];          /* data, local, remote, control, flags */
    ref_buffer *buffers[5];     /* the registrations they name, or NULL */
} ref_request;

enum { SLICE_DATA, SLICE_LOCAL, SLICE_REMOTE, SLICE_CONTROL, SLICE_FLAGS };

typedef struct ref_completion {
    RIORESULT result;
    ref_request *request;
    BOOL notify;
} ref_completion;

typedef struct ref_cq {
    struct ref_cq *next;
    DWORD capacity;
    DWORD reserved;             /* outstanding slots promised to request queues */
    ref_completion *ring;
    DWORD head, count;
    DWORD notifiable;           /* queued completions without RIO_MSG_DONT_NOTIFY */
    BOOL has_notification;
    RIO_NOTIFICATION_COMPLETION notification;
    BOOL armed;
} ref_cq;

typedef struct ref_datagram {
    struct ref_datagram *next;
    DWORD length;
    char data[];
} ref_datagram;

typedef struct ref_rq {
    struct ref_rq *next;
    SOCKET socket;
    int socket_type;
    ULONG max_receive, max_send;
    ULONG outstanding_receive, outstanding_send;
    ref_cq *receive_cq, *send_cq;
    PVOID context;
    struct ref_rq *peer;
    BOOL closed;                /* socket gone: invalid for new requests */
    LONG references;            /* requests not yet released */
    ref_request *posted_head, *posted_tail;           /* receives waiting for data */
    ref_request *deferred_send_head, *deferred_send_tail;
    ref_request *deferred_receive_head, *deferred_receive_tail;
    ref_datagram *inbound_head, *inbound_tail;
    DWORD inbound_count;
    /* A queue over a real (bound or connected) socket moves data with Winsock instead. */
    BOOL real;
    struct sockaddr_storage local, remote; /* what identifies the socket behind the handle */
    int local_length, remote_length;
} ref_rq;

static CRITICAL_SECTION lock;
static ref_cq *cqs;
static ref_rq *rqs;
static DWORD page_size = 4096;

/* Live registrations: an open-addressing set of record pointers. */
static ref_buffer **buffer_set;
static SIZE_T buffer_set_capacity;
static SIZE_T buffer_set_used;       /* live + tombstones */
#define TOMBSTONE ((ref_buffer *)1)

static ULONG max_registrations = 65536;
static ULONGLONG max_registered_bytes = ~0ULL;

static RIO_REFERENCE_STATS stats;
static int injected_registration_error;
static LONG function_table_requests;

/* ---------------------------------------------------------------------------------- */
/* Helpers                                                                            */
/* ---------------------------------------------------------------------------------- */

static BOOL fail(int code)
{
    WSASetLastError(code);
    return FALSE;
}

static BOOL protection_allows(DWORD protect, BOOL write)
{
    if (protect & (PAGE_GUARD | PAGE_NOACCESS))
        return FALSE;
    switch (protect & 0xFF) {
    case PAGE_READWRITE:
    case PAGE_WRITECOPY:
    case PAGE_EXECUTE_READWRITE:
    case PAGE_EXECUTE_WRITECOPY:
        return TRUE;
    case PAGE_READONLY:
    case PAGE_EXECUTE_READ:
        return !write;
    default:
        return FALSE;
    }
}

/* Every page of [p, p + length) committed and accessible; never touches the memory. */
static BOOL range_ok(const void *p, ULONGLONG length, BOOL write)
{
    ULONG_PTR start = (ULONG_PTR)p;
    if (p == NULL)
        return FALSE;
    if (length == 0)
        return TRUE;
    if (start + length < start)
        return FALSE;
    ULONG_PTR end = start + (ULONG_PTR)length;
    while (start < end) {
        MEMORY_BASIC_INFORMATION info;
        if (VirtualQuery((LPCVOID)start, &info, sizeof info) != sizeof info)
            return FALSE;
        if (info.State != MEM_COMMIT || !protection_allows(info.Protect, write))
            return FALSE;
        start = (ULONG_PTR)info.BaseAddress + info.RegionSize;
    }
    return TRUE;
}

static SIZE_T hash_pointer(const void *p)
{
    ULONGLONG x = (ULONGLONG)(ULONG_PTR)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (SIZE_T)x;
}

static BOOL buffer_set_insert(ref_buffer *buffer);

static BOOL buffer_set_grow(void)
{
    SIZE_T old_capacity = buffer_set_capacity;
    ref_buffer **old = buffer_set;
    /* Sized from the live count, so tombstones left by deregistrations are swept rather
       than doubling the table on every rehash. */
    SIZE_T capacity = 1024;
    while (capacity < (SIZE_T)(stats.LiveRegistrations + 1) * 4)
        capacity *= 2;
    ref_buffer **table = calloc(capacity, sizeof *table);
    if (table == NULL)
        return FALSE;
    buffer_set = table;
    buffer_set_capacity = capacity;
    buffer_set_used = 0;
    for (SIZE_T i = 0; i < old_capacity; i++)
        if (old[i] != NULL && old[i] != TOMBSTONE)
            buffer_set_insert(old[i]);
    free(old);
    return TRUE;
}

static BOOL buffer_set_insert(ref_buffer *buffer)
{
    if ((buffer_set_used + 1) * 2 > buffer_set_capacity && !buffer_set_grow())
        return FALSE;
    SIZE_T mask = buffer_set_capacity - 1;
    for (SIZE_T i = hash_pointer(buffer) & mask;; i = (i + 1) & mask) {
        if (buffer_set[i] == NULL || buffer_set[i] == TOMBSTONE) {
            if (buffer_set[i] == NULL)
                buffer_set_used++;
            buffer_set[i] = buffer;
            return TRUE;
        }
    }
}

static SIZE_T buffer_set_find(const void *id)
{
    if (buffer_set_capacity == 0 || id == NULL || id == TOMBSTONE)
        return (SIZE_T)-1;
    SIZE_T mask = buffer_set_capacity - 1;
    for (SIZE_T i = hash_pointer(id) & mask;; i = (i + 1) & mask) {
        if (buffer_set[i] == NULL)
            return (SIZE_T)-1;
        if (buffer_set[i] == id)
            return i;
    }
}

static ref_buffer *lookup_buffer(RIO_BUFFERID id)
{
    SIZE_T slot = buffer_set_find(id);
    return slot == (SIZE_T)-1 ? NULL : buffer_set[slot];
}

static ref_cq *lookup_cq(RIO_CQ id)
{
    for (ref_cq *cq = cqs; cq != NULL; cq = cq->next)
        if ((RIO_CQ)cq == id)
            return cq;
    return NULL;
}

static void release_buffer_use(ref_buffer *buffer)
{
    if (buffer == NULL)
        return;
    buffer->pending--;
    if (!buffer->live && buffer->pending == 0)
        free(buffer);
}

static void unlink_rq(ref_rq *rq)
{
    for (ref_rq **p = &rqs; *p != NULL; p = &(*p)->next) {
        if (*p == rq) {
            *p = rq->next;
            return;
        }
    }
}

static void maybe_free_rq(ref_rq *rq)
{
    if (rq->closed && rq->references == 0) {
        while (rq->inbound_head != NULL) {
            ref_datagram *d = rq->inbound_head;
            rq->inbound_head = d->next;
            free(d);
        }
        free(rq);
    }
}

/* Gives back everything a request holds: called when its completion is dequeued. */
static void release_request(ref_request *request)
{
    ref_rq *rq = request->rq;
    for (int i = 0; i < 5; i++)
        release_buffer_use(request->buffers[i]);
    if (request->is_send)
        rq->outstanding_send--;
    else
        rq->outstanding_receive--;
    rq->references--;
    stats.OutstandingRequests--;
    free(request);
    maybe_free_rq(rq);
}

static void fire_notification(ref_cq *cq)
{
    cq->armed = FALSE;
    if (cq->notification.Type == RIO_EVENT_COMPLETION)
        SetEvent(cq->notification.Event.EventHandle);
    else
        PostQueuedCompletionStatus(cq->notification.Iocp.IocpHandle, 0,
                                   (ULONG_PTR)cq->notification.Iocp.CompletionKey,
                                   (LPOVERLAPPED)cq->notification.Iocp.Overlapped);
}

static void complete(ref_request *request, LONG status, ULONG bytes)
{
    ref_rq *rq = request->rq;
    ref_cq *cq = request->is_send ? rq->send_cq : rq->receive_cq;
    if (cq == NULL || cq->count == cq->capacity) {
        /* A closed CQ drops completions silently (RIOCloseCompletionQueue docs); a full one
           cannot happen while reservations hold, but never overrun the ring. */
        release_request(request);
        return;
    }
    ref_completion *slot = &cq->ring[(cq->head + cq->count) % cq->capacity];
    slot->result.Status = status;
    slot->result.BytesTransferred = bytes;
    slot->result.SocketContext = (ULONGLONG)(ULONG_PTR)rq->context;
    slot->result.RequestContext = (ULONGLONG)(ULONG_PTR)request->context;
    slot->request = request;
    slot->notify = (request->flags & RIO_MSG_DONT_NOTIFY) == 0;
    cq->count++;
    if (slot->notify) {
        cq->notifiable++;
        if (cq->armed && cq->has_notification)
            fire_notification(cq);
    }
}

static char *slice_pointer(ref_request *request, int index)
{
    return request->buffers[index]->base + request->slices[index].Offset;
}

/* Writes `address` as a zero-padded SOCKADDR_INET into a receive's address slice. */
static void write_address(ref_request *request, int index, const struct sockaddr *address, int length)
{
    if (request->buffers[index] == NULL || !request->buffers[index]->live)
        return;
    char *p = slice_pointer(request, index);
    if (!range_ok(p, SOCKADDR_INET_SIZE, TRUE))
        return;
    memset(p, 0, SOCKADDR_INET_SIZE);
    if (length > SOCKADDR_INET_SIZE)
        length = SOCKADDR_INET_SIZE;
    if (length > 0)
        memcpy(p, address, (size_t)length);
}

/* Writes a SOCKADDR_INET for 127.0.0.1:0 into a receive's address slice. */
static void write_loopback_address(ref_request *request, int index)
{
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    write_address(request, index, (const struct sockaddr *)&address, (int)sizeof address);
}

/* What a receive reports besides its data: no flags, an empty control buffer. */
static void write_receive_extras(ref_request *receive)
{
    if (receive->buffers[SLICE_FLAGS] != NULL && receive->buffers[SLICE_FLAGS]->live) {
        char *flags = slice_pointer(receive, SLICE_FLAGS);
        if (range_ok(flags, sizeof(ULONG), TRUE))
            memset(flags, 0, sizeof(ULONG));
    }
    if (receive->buffers[SLICE_CONTROL] != NULL && receive->buffers[SLICE_CONTROL]->live) {
        char *control = slice_pointer(receive, SLICE_CONTROL);
        if (range_ok(control, sizeof(RIO_CMSG_BUFFER), TRUE))
            ((RIO_CMSG_BUFFER *)control)->TotalLength = sizeof(RIO_CMSG_BUFFER);
    }
}

static void deliver(ref_request *receive, const char *data, DWORD length)
{
    LONG status = NO_ERROR;
    DWORD copied = 0;
    if (receive->buffers[SLICE_DATA] != NULL) {
        ref_buffer *buffer = receive->buffers[SLICE_DATA];
        DWORD room = receive->slices[SLICE_DATA].Length;
        copied = length < room ? length : room;
        char *target = slice_pointer(receive, SLICE_DATA);
        if (!buffer->live || !range_ok(target, copied, TRUE)) {
            status = WSAEFAULT;
            copied = 0;
        } else {
            memcpy(target, data, copied);
            if (copied < length)
                status = WSAEMSGSIZE;
        }
    } else if (length > 0) {
        status = WSAEMSGSIZE;
    }
    write_loopback_address(receive, SLICE_LOCAL);
    write_loopback_address(receive, SLICE_REMOTE);
    write_receive_extras(receive);
    complete(receive, status, copied);
}

static void real_post(ref_request *request);

static void execute_send(ref_request *send)
{
    if (send->rq->real) {
        real_post(send);
        return;
    }
    const char *data = NULL;
    DWORD length = 0;
    if (send->buffers[SLICE_DATA] != NULL) {
        ref_buffer *buffer = send->buffers[SLICE_DATA];
        data = slice_pointer(send, SLICE_DATA);
        length = send->slices[SLICE_DATA].Length;
        if (!buffer->live || !range_ok(data, length, FALSE)) {
            complete(send, WSAEFAULT, 0);
            return;
        }
    }
    ref_rq *target = send->rq->peer;
    if (target != NULL && !target->closed) {
        if (target->posted_head != NULL) {
            ref_request *receive = target->posted_head;
            target->posted_head = receive->next;
            if (target->posted_head == NULL)
                target->posted_tail = NULL;
            deliver(receive, data, length);
        } else if (target->inbound_count < MAX_QUEUED_DATAGRAMS) {
            ref_datagram *datagram = malloc(sizeof *datagram + length);
            if (datagram != NULL) {
                datagram->next = NULL;
                datagram->length = length;
                if (length)
                    memcpy(datagram->data, data, length);
                if (target->inbound_tail)
                    target->inbound_tail->next = datagram;
                else
                    target->inbound_head = datagram;
                target->inbound_tail = datagram;
                target->inbound_count++;
            }
        }
        /* Otherwise dropped, as a datagram would be. */
    }
    complete(send, NO_ERROR, length);
}

static void execute_receive(ref_request *receive)
{
    ref_rq *rq = receive->rq;
    if (rq->real) {
        real_post(receive);
        return;
    }
    if (rq->inbound_head != NULL) {
        ref_datagram *datagram = rq->inbound_head;
        rq->inbound_head = datagram->next;
        if (rq->inbound_head == NULL)
            rq->inbound_tail = NULL;
        rq->inbound_count--;
        deliver(receive, datagram->data, datagram->length);
        free(datagram);
        return;
    }
    receive->next = NULL;
    if (rq->posted_tail)
        rq->posted_tail->next = receive;
    else
        rq->posted_head = receive;
    rq->posted_tail = receive;
}

static void flush_deferred(ref_rq *rq, BOOL sends)
{
    ref_request **head = sends ? &rq->deferred_send_head : &rq->deferred_receive_head;
    ref_request **tail = sends ? &rq->deferred_send_tail : &rq->deferred_receive_tail;
    while (*head != NULL) {
        ref_request *request = *head;
        *head = request->next;
        if (*head == NULL)
            *tail = NULL;
        request->next = NULL;
        if (sends)
            execute_send(request);
        else
            execute_receive(request);
    }
}

static void abort_list(ref_request **head, ref_request **tail)
{
    while (*head != NULL) {
        ref_request *request = *head;
        *head = request->next;
        complete(request, WSA_OPERATION_ABORTED, 0);
    }
    *tail = NULL;
}

/* closesocket frees a request queue on Windows; we notice it on the next use. */
static void close_rq(ref_rq *rq)
{
    if (rq->closed)
        return;
    unlink_rq(rq);
    rq->closed = TRUE;
    stats.LiveRequestQueues--;
    abort_list(&rq->posted_head, &rq->posted_tail);
    abort_list(&rq->deferred_receive_head, &rq->deferred_receive_tail);
    abort_list(&rq->deferred_send_head, &rq->deferred_send_tail);
    if (rq->receive_cq)
        rq->receive_cq->reserved -= rq->max_receive;
    if (rq->send_cq)
        rq->send_cq->reserved -= rq->max_send;
    for (ref_rq *other = rqs; other != NULL; other = other->next)
        if (other->peer == rq)
            other->peer = other;
    rq->peer = NULL;
    maybe_free_rq(rq);
}

static BOOL socket_alive(SOCKET s, int *type)
{
    int value = 0, length = sizeof value;
    DWORD saved = GetLastError();
    BOOL alive = getsockopt(s, SOL_SOCKET, SO_TYPE, (char *)&value, &length) == 0;
    SetLastError(saved);
    if (alive && type != NULL)
        *type = value;
    return alive;
}

/* ---------------------------------------------------------------------------------- */
/* Real sockets                                                                       */
/* ---------------------------------------------------------------------------------- */

/*
 * A queue whose socket is bound or connected when the queue is created moves data with
 * Winsock on that socket: each committed request becomes one overlapped WSASend/WSARecv
 * (WSASendTo/WSARecvFrom for datagrams) on the request's own slice, and the socket is tied
 * to one I/O completion port that a worker thread drains, turning each packet into the
 * request's RIORESULT. That is how RIO itself behaves: the kernel queues a request queue's
 * requests in order, completes them as the network allows, and closesocket aborts what is
 * still pending (WSA_OPERATION_ABORTED). Nothing polls, so a request costs the same however
 * many sockets are open.
 */

static HANDLE completion_port;
static HANDLE worker;

static BOOL same_address(SOCKET s, BOOL peer, const struct sockaddr_storage *expected, int length, BOOL *known)
{
    struct sockaddr_storage now;
    int n = sizeof now;
    memset(&now, 0, sizeof now);
    *known = (peer ? getpeername(s, (struct sockaddr *)&now, &n) : getsockname(s, (struct sockaddr *)&now, &n)) == 0;
    return *known && n == length && memcmp(&now, expected, (size_t)length) == 0;
}

/* The handle still names the socket the queue was created for: a closed handle may be
   reused at once by a new socket, which must not inherit the queue. A connected socket
   whose peer reset it may have no peer name any more; that is still the same socket. */
static BOOL rq_alive(ref_rq *rq)
{
    int type = 0;
    DWORD saved = GetLastError();
    BOOL alive = socket_alive(rq->socket, &type);
    if (alive && rq->real) {
        BOOL known;
        alive = type == rq->socket_type && same_address(rq->socket, FALSE, &rq->local, rq->local_length, &known);
        if (alive && rq->socket_type == SOCK_STREAM &&
            !same_address(rq->socket, TRUE, &rq->remote, rq->remote_length, &known) && known)
            alive = FALSE;
    }
    SetLastError(saved);
    return alive;
}

/* What a finished receive writes besides its data: the addresses and the extras. */
static void finish_receive(ref_request *request)
{
    ref_rq *rq = request->rq;
    if (rq->socket_type == SOCK_STREAM)
        write_address(request, SLICE_REMOTE, (const struct sockaddr *)&rq->remote, rq->remote_length);
    else
        write_address(request, SLICE_REMOTE, (const struct sockaddr *)&request->io.from, request->io.from_length);
    write_address(request, SLICE_LOCAL, (const struct sockaddr *)&rq->local, rq->local_length);
    write_receive_extras(request);
}

/* Issues a request as one overlapped operation; its completion comes through the port,
   even when the call succeeds at once. A call that fails at once queues no packet, so it
   completes here. */
static void real_post(ref_request *request)
{
    ref_rq *rq = request->rq;
    ref_overlapped_request *io = &request->io;
    memset(&io->overlapped, 0, sizeof io->overlapped);
    io->data.buf = NULL;
    io->data.len = 0;
    if (request->buffers[SLICE_DATA] != NULL) {
        io->data.buf = slice_pointer(request, SLICE_DATA);
        io->data.len = request->slices[SLICE_DATA].Length;
        if (!request->buffers[SLICE_DATA]->live || !range_ok(io->data.buf, io->data.len, !request->is_send)) {
            complete(request, WSAEFAULT, 0);
            return;
        }
    }
    DWORD saved = GetLastError();
    int rc;
    if (request->is_send) {
        const struct sockaddr *to = NULL;
        int to_length = 0;
        if (rq->socket_type == SOCK_DGRAM && request->buffers[SLICE_REMOTE] != NULL) {
            to = (const struct sockaddr *)slice_pointer(request, SLICE_REMOTE);
            if (request->buffers[SLICE_REMOTE]->live && range_ok(to, sizeof(ADDRESS_FAMILY), FALSE))
                to_length = to->sa_family == AF_INET6 ? (int)sizeof(struct sockaddr_in6)
                            : to->sa_family == AF_INET ? (int)sizeof(struct sockaddr_in) : 0;
            if (to_length == 0 || (ULONG)to_length > request->slices[SLICE_REMOTE].Length) {
                complete(request, to_length == 0 ? WSAEAFNOSUPPORT : WSAEFAULT, 0);
                SetLastError(saved);
                return;
            }
        }
        rc = to != NULL ? WSASendTo(rq->socket, &io->data, 1, NULL, 0, to, to_length, &io->overlapped, NULL)
                        : WSASend(rq->socket, &io->data, 1, NULL, 0, &io->overlapped, NULL);
    } else {
        io->receive_flags = 0;
        io->from_length = sizeof io->from;
        memset(&io->from, 0, sizeof io->from);
        rc = rq->socket_type == SOCK_DGRAM
            ? WSARecvFrom(rq->socket, &io->data, 1, NULL, &io->receive_flags, (struct sockaddr *)&io->from,
                          &io->from_length, &io->overlapped, NULL)
            : WSARecv(rq->socket, &io->data, 1, NULL, &io->receive_flags, &io->overlapped, NULL);
    }
    if (rc == SOCKET_ERROR) {
        int error = WSAGetLastError();
        /* A truncated datagram (WSAEMSGSIZE) is a warning status, not an error: like a
           success, it still queues a packet on the port, which completes the request. */
        if (error != WSA_IO_PENDING && error != WSAEMSGSIZE)
            complete(request, error, 0);
    }
    SetLastError(saved);
}

/* The Winsock error of a finished overlapped operation. The socket may be closed by now
   (its pending operations then end aborted), so the packet's own status is read. */
static LONG overlapped_status(ref_request *request, DWORD *bytes)
{
    DWORD flags = 0;
    DWORD saved = GetLastError();
    LONG status = NO_ERROR;
    if (!WSAGetOverlappedResult(request->rq->socket, &request->io.overlapped, bytes, FALSE, &flags)) {
        status = WSAGetLastError();
        if (status == WSAENOTSOCK)
            status = WSA_OPERATION_ABORTED;
    }
    SetLastError(saved);
    return status;
}

static DWORD WINAPI worker_main(LPVOID unused)
{
    (void)unused;
    OVERLAPPED_ENTRY entries[64];
    for (;;) {
        ULONG count = 0;
        if (!GetQueuedCompletionStatusEx(completion_port, entries, 64, &count, INFINITE, FALSE))
            continue;
        EnterCriticalSection(&lock);
        for (ULONG i = 0; i < count; i++) {
            ref_request *request = (ref_request *)entries[i].lpOverlapped;
            DWORD bytes = (DWORD)entries[i].dwNumberOfBytesTransferred;
            LONG status = overlapped_status(request, &bytes);
            if (!request->is_send && (status == NO_ERROR || status == WSAEMSGSIZE))
                finish_receive(request);
            complete(request, status, bytes);
        }
        LeaveCriticalSection(&lock);
    }
    return 0;
}

/* Starts the completion port and its worker once. */
static BOOL start_worker(void)
{
    if (worker != NULL)
        return TRUE;
    completion_port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (completion_port == NULL)
        return FALSE;
    /* The worker runs this DLL's code until the process ends: a FreeLibrary at exit must
       not unmap it under the thread. */
    HMODULE self;
    GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_PIN | GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       (LPCWSTR)(void *)start_worker, &self);
    worker = CreateThread(NULL, 0, worker_main, NULL, 0, NULL);
    if (worker == NULL) {
        CloseHandle(completion_port);
        completion_port = NULL;
        return FALSE;
    }
    return TRUE;
}

/* A bound UDP socket or a connected TCP socket gets a real queue: records what identifies
   it and ties it to the completion port. An unbound socket keeps the loopback model. */
static BOOL make_real(ref_rq *rq)
{
    DWORD saved = GetLastError();
    rq->local_length = sizeof rq->local;
    BOOL real = getsockname(rq->socket, (struct sockaddr *)&rq->local, &rq->local_length) == 0;
    if (real && rq->socket_type == SOCK_STREAM) {
        rq->remote_length = sizeof rq->remote;
        real = getpeername(rq->socket, (struct sockaddr *)&rq->remote, &rq->remote_length) == 0;
    }
    SetLastError(saved);
    if (!real)
        return TRUE;
    if (!start_worker() || CreateIoCompletionPort((HANDLE)rq->socket, completion_port, 0, 0) == NULL)
        return FALSE;
    SetLastError(saved);
    rq->real = TRUE;
    return TRUE;
}

static void sweep_closed_sockets(void)
{
    ref_rq *rq = rqs;
    while (rq != NULL) {
        ref_rq *next = rq->next;
        if (!rq_alive(rq))
            close_rq(rq);
        rq = next;
    }
}

static ref_rq *lookup_live_rq(RIO_RQ id)
{
    for (ref_rq *rq = rqs; rq != NULL; rq = rq->next) {
        if ((RIO_RQ)rq == id) {
            if (!socket_alive(rq->socket, NULL)) {
                close_rq(rq);
                return NULL;
            }
            return rq;
        }
    }
    return NULL;
}

/* Resolves an optional RIO_BUF argument: NULL is fine, anything else must name a live
   registration and a range inside it. */
static BOOL resolve_slice(const RIO_BUF *slice, ULONG min_length, RIO_BUF *out, ref_buffer **buffer)
{
    *buffer = NULL;
    if (slice == NULL)
        return TRUE;
    if (!range_ok(slice, sizeof *slice, FALSE))
        return fail(WSAEFAULT);
    *out = *slice;
    ref_buffer *found = lookup_buffer(out->BufferId);
    if (found == NULL)
        return fail(WSAEFAULT);
    if ((ULONGLONG)out->Offset + out->Length > found->length || out->Length < min_length)
        return fail(WSAEINVAL);
    *buffer = found;
    return TRUE;
}

static BOOL post(RIO_RQ socket_queue, PRIO_BUF data, ULONG count, PRIO_BUF local, PRIO_BUF remote,
                 PRIO_BUF control, PRIO_BUF flags_slice, DWORD flags, PVOID context, BOOL is_send)
{
    ref_rq *rq = lookup_live_rq(socket_queue);
    if (rq == NULL)
        return fail(WSAEINVAL);

    DWORD allowed = RIO_MSG_DONT_NOTIFY | RIO_MSG_DEFER | RIO_MSG_COMMIT_ONLY | (is_send ? 0 : RIO_MSG_WAITALL);
    if (flags & ~allowed)
        return fail(WSAEINVAL);
    if (flags & RIO_MSG_COMMIT_ONLY) {
        if (flags != RIO_MSG_COMMIT_ONLY || data != NULL || count != 0 || context != NULL || local != NULL ||
            remote != NULL || control != NULL || flags_slice != NULL)
            return fail(WSAEINVAL);
        flush_deferred(rq, is_send);
        return TRUE;
    }
    if ((flags & RIO_MSG_WAITALL) && rq->socket_type != SOCK_STREAM)
        return fail(WSAEINVAL);  /* "not supported on datagram sockets" */

    if (count > 1)
        return fail(WSAEINVAL);  /* MaxSend/ReceiveDataBuffers is 1 */
    if (count == 1 && data == NULL)
        return fail(WSAEFAULT);
    if (count == 0 && data != NULL)
        return fail(WSAEINVAL);

    ref_request request;
    memset(&request, 0, sizeof request);
    /* Receive-side address and flags slices must be able to hold what is written there. */
    ULONG address_minimum = is_send ? 0 : SOCKADDR_INET_SIZE;
    ULONG flags_minimum = is_send ? 0 : (ULONG)sizeof(ULONG);
    if (!resolve_slice(count ? data : NULL, 0, &request.slices[SLICE_DATA], &request.buffers[SLICE_DATA]) ||
        !resolve_slice(local, address_minimum, &request.slices[SLICE_LOCAL], &request.buffers[SLICE_LOCAL]) ||
        !resolve_slice(remote, address_minimum, &request.slices[SLICE_REMOTE], &request.buffers[SLICE_REMOTE]) ||
        !resolve_slice(control, 0, &request.slices[SLICE_CONTROL], &request.buffers[SLICE_CONTROL]) ||
        !resolve_slice(flags_slice, flags_minimum, &request.slices[SLICE_FLAGS], &request.buffers[SLICE_FLAGS]))
        return FALSE;

    if ((is_send ? rq->send_cq : rq->receive_cq) == NULL)
        return fail(WSAEINVAL);  /* its completion queue was closed */
    if (is_send ? rq->outstanding_send >= rq->max_send : rq->outstanding_receive >= rq->max_receive)
        return fail(WSAENOBUFS);

    ref_request *copy = malloc(sizeof *copy);
    if (copy == NULL)
        return fail(WSAENOBUFS);
    *copy = request;
    copy->rq = rq;
    copy->is_send = is_send;
    copy->flags = flags;
    copy->context = context;
    for (int i = 0; i < 5; i++)
        if (copy->buffers[i] != NULL)
            copy->buffers[i]->pending++;
    if (is_send)
        rq->outstanding_send++;
    else
        rq->outstanding_receive++;
    rq->references++;
    stats.OutstandingRequests++;

    if (flags & RIO_MSG_DEFER) {
        ref_request **head = is_send ? &rq->deferred_send_head : &rq->deferred_receive_head;
        ref_request **tail = is_send ? &rq->deferred_send_tail : &rq->deferred_receive_tail;
        if (*tail)
            (*tail)->next = copy;
        else
            *head = copy;
        *tail = copy;
        return TRUE;
    }
    flush_deferred(rq, is_send);
    if (is_send)
        execute_send(copy);
    else
        execute_receive(copy);
    return TRUE;
}

/* ---------------------------------------------------------------------------------- */
/* The 13 functions                                                                   */
/* ---------------------------------------------------------------------------------- */

static BOOL PASCAL ref_RIOReceive(RIO_RQ rq, PRIO_BUF data, ULONG count, DWORD flags, PVOID context)
{
    EnterCriticalSection(&lock);
    BOOL ok = post(rq, data, count, NULL, NULL, NULL, NULL, flags, context, FALSE);
    LeaveCriticalSection(&lock);
    return ok;
}

static int PASCAL ref_RIOReceiveEx(RIO_RQ rq, PRIO_BUF data, ULONG count, PRIO_BUF local, PRIO_BUF remote,
                                   PRIO_BUF control, PRIO_BUF flags_slice, DWORD flags, PVOID context)
{
    EnterCriticalSection(&lock);
    BOOL ok = post(rq, data, count, local, remote, control, flags_slice, flags, context, FALSE);
    LeaveCriticalSection(&lock);
    return ok;
}

static BOOL PASCAL ref_RIOSend(RIO_RQ rq, PRIO_BUF data, ULONG count, DWORD flags, PVOID context)
{
    EnterCriticalSection(&lock);
    BOOL ok = post(rq, data, count, NULL, NULL, NULL, NULL, flags, context, TRUE);
    LeaveCriticalSection(&lock);
    return ok;
}

static BOOL PASCAL ref_RIOSendEx(RIO_RQ rq, PRIO_BUF data, ULONG count, PRIO_BUF local, PRIO_BUF remote,
                                 PRIO_BUF control, PRIO_BUF flags_slice, DWORD flags, PVOID context)
{
    EnterCriticalSection(&lock);
    BOOL ok = post(rq, data, count, local, remote, control, flags_slice, flags, context, TRUE);
    LeaveCriticalSection(&lock);
    return ok;
}

static VOID PASCAL ref_RIOCloseCompletionQueue(RIO_CQ id)
{
    EnterCriticalSection(&lock);
    ref_cq *cq = lookup_cq(id);
    if (cq != NULL) {  /* an invalid CQ is ignored, as documented */
        for (ref_cq **p = &cqs; *p != NULL; p = &(*p)->next) {
            if (*p == cq) {
                *p = cq->next;
                break;
            }
        }
        for (ref_rq *rq = rqs; rq != NULL; rq = rq->next) {
            if (rq->receive_cq == cq)
                rq->receive_cq = NULL;
            if (rq->send_cq == cq)
                rq->send_cq = NULL;
        }
        /* Completions nobody can dequeue any more give their requests back now. */
        while (cq->count > 0) {
            ref_completion *slot = &cq->ring[cq->head];
            cq->head = (cq->head + 1) % cq->capacity;
            cq->count--;
            release_request(slot->request);
        }
        free(cq->ring);
        free(cq);
        stats.LiveCompletionQueues--;
    }
    LeaveCriticalSection(&lock);
}

static RIO_CQ PASCAL ref_RIOCreateCompletionQueue(DWORD size, PRIO_NOTIFICATION_COMPLETION notification)
{
    if (size < 1 || size > RIO_MAX_CQ_SIZE) {
        fail(WSAEINVAL);
        return RIO_INVALID_CQ;
    }
    RIO_NOTIFICATION_COMPLETION copy;
    memset(&copy, 0, sizeof copy);
    if (notification != NULL) {
        if (!range_ok(notification, sizeof *notification, FALSE)) {
            fail(WSAEFAULT);
            return RIO_INVALID_CQ;
        }
        copy = *notification;
        if (copy.Type == RIO_EVENT_COMPLETION) {
            if (copy.Event.EventHandle == NULL) {
                fail(WSAEINVAL);
                return RIO_INVALID_CQ;
            }
        } else if (copy.Type == RIO_IOCP_COMPLETION) {
            if (copy.Iocp.IocpHandle == NULL || copy.Iocp.Overlapped == NULL) {
                fail(WSAEINVAL);
                return RIO_INVALID_CQ;
            }
        } else {
            fail(WSAEINVAL);
            return RIO_INVALID_CQ;
        }
    }
    ref_cq *cq = calloc(1, sizeof *cq);
    ref_completion *ring = cq ? calloc(size, sizeof *ring) : NULL;
    if (ring == NULL) {
        free(cq);
        fail(WSAENOBUFS);
        return RIO_INVALID_CQ;
    }
    cq->capacity = size;
    cq->ring = ring;
    cq->has_notification = notification != NULL;
    cq->notification = copy;
    EnterCriticalSection(&lock);
    cq->next = cqs;
    cqs = cq;
    stats.LiveCompletionQueues++;
    LeaveCriticalSection(&lock);
    return (RIO_CQ)cq;
}

static RIO_RQ PASCAL ref_RIOCreateRequestQueue(SOCKET s, ULONG max_receive, ULONG max_receive_buffers,
                                               ULONG max_send, ULONG max_send_buffers, RIO_CQ receive_cq,
                                               RIO_CQ send_cq, PVOID context)
{
    RIO_RQ result = RIO_INVALID_RQ;
    EnterCriticalSection(&lock);
    sweep_closed_sockets();
    ref_cq *rcq = lookup_cq(receive_cq);
    ref_cq *scq = lookup_cq(send_cq);
    int type = 0;
    if (rcq == NULL || scq == NULL || (max_receive == 0 && max_send == 0)) {
        fail(WSAEINVAL);
        goto done;
    }
    if ((max_receive > 0 && max_receive_buffers != 1) || (max_send > 0 && max_send_buffers != 1) ||
        max_receive_buffers > 1 || max_send_buffers > 1) {
        fail(WSAEINVAL);  /* "must be 1" (Windows 8 / Server 2012) */
        goto done;
    }
    if (!socket_alive(s, &type)) {
        fail(WSAENOTSOCK);
        goto done;
    }
    if (type != SOCK_DGRAM && type != SOCK_STREAM) {
        fail(WSAEOPNOTSUPP);
        goto done;
    }
    for (ref_rq *other = rqs; other != NULL; other = other->next) {
        if (other->socket == s) {
            fail(WSAEINVAL);  /* one request queue per socket */
            goto done;
        }
    }
    ULONGLONG need_r = (ULONGLONG)rcq->reserved + max_receive + (rcq == scq ? max_send : 0);
    ULONGLONG need_s = (ULONGLONG)scq->reserved + max_send + (rcq == scq ? max_receive : 0);
    if (need_r > rcq->capacity || need_s > scq->capacity) {
        fail(WSAENOBUFS);
        goto done;
    }
    ref_rq *rq = calloc(1, sizeof *rq);
    if (rq == NULL) {
        fail(WSAENOBUFS);
        goto done;
    }
    rq->socket = s;
    rq->socket_type = type;
    if (!make_real(rq)) {
        free(rq);
        fail(WSAENOBUFS);
        goto done;
    }
    rq->max_receive = max_receive;
    rq->max_send = max_send;
    rq->receive_cq = rcq;
    rq->send_cq = scq;
    rq->context = context;
    rq->peer = rq;
    rcq->reserved += max_receive;
    scq->reserved += max_send;
    rq->next = rqs;
    rqs = rq;
    stats.LiveRequestQueues++;
    result = (RIO_RQ)rq;
done:
    LeaveCriticalSection(&lock);
    return result;
}

static ULONG PASCAL ref_RIODequeueCompletion(RIO_CQ id, PRIORESULT array, ULONG size)
{
    ULONG n = 0;
    EnterCriticalSection(&lock);
    ref_cq *cq = lookup_cq(id);
    if (cq == NULL || (size > 0 && !range_ok(array, (ULONGLONG)size * sizeof *array, TRUE))) {
        LeaveCriticalSection(&lock);
        return RIO_CORRUPT_CQ;
    }
    while (n < size && cq->count > 0) {
        ref_completion *slot = &cq->ring[cq->head];
        cq->head = (cq->head + 1) % cq->capacity;
        cq->count--;
        if (slot->notify)
            cq->notifiable--;
        array[n++] = slot->result;
        release_request(slot->request);
    }
    LeaveCriticalSection(&lock);
    return n;
}

static VOID PASCAL ref_RIODeregisterBuffer(RIO_BUFFERID id)
{
    EnterCriticalSection(&lock);
    SIZE_T slot = buffer_set_find(id);
    if (slot == (SIZE_T)-1) {
        /* Documented as ignored; the error code lets a careful caller notice. */
        stats.InvalidDeregistrations++;
        WSASetLastError(WSAEINVAL);
    } else {
        ref_buffer *buffer = buffer_set[slot];
        buffer_set[slot] = TOMBSTONE;
        buffer->live = FALSE;
        stats.LiveRegistrations--;
        stats.RegisteredBytes -= buffer->length;
        stats.LockedPages -= buffer->pages;
        stats.TotalDeregistrations++;
        if (buffer->pending > 0)
            stats.DeregistrationsWithIoOutstanding++;  /* undefined behaviour on Windows */
        else
            free(buffer);
    }
    LeaveCriticalSection(&lock);
}

static INT PASCAL ref_RIONotify(RIO_CQ id)
{
    INT result = ERROR_SUCCESS;
    EnterCriticalSection(&lock);
    ref_cq *cq = lookup_cq(id);
    if (cq == NULL || !cq->has_notification) {
        result = WSAEINVAL;
    } else if (cq->armed) {
        result = WSAEALREADY;
    } else {
        if (cq->notification.Type == RIO_EVENT_COMPLETION && cq->notification.Event.NotifyReset)
            ResetEvent(cq->notification.Event.EventHandle);
        cq->armed = TRUE;
        if (cq->notifiable > 0)
            fire_notification(cq);
    }
    LeaveCriticalSection(&lock);
    return result;
}

static RIO_BUFFERID PASCAL ref_RIORegisterBuffer(PCHAR data, DWORD length)
{
    int injected = InterlockedExchange((LONG *)&injected_registration_error, 0);
    if (injected != 0) {
        fail(injected);
        return RIO_INVALID_BUFFERID;
    }
    if (length == 0) {
        fail(WSAEINVAL);
        return RIO_INVALID_BUFFERID;
    }
    if (!range_ok(data, length, TRUE)) {
        fail(WSAEFAULT);
        return RIO_INVALID_BUFFERID;
    }
    ULONG_PTR start = (ULONG_PTR)data;
    ULONGLONG pages = (start + length - 1) / page_size - start / page_size + 1;
    RIO_BUFFERID id = RIO_INVALID_BUFFERID;
    EnterCriticalSection(&lock);
    if (stats.LiveRegistrations >= max_registrations || stats.RegisteredBytes + length > max_registered_bytes) {
        fail(WSAENOBUFS);
        goto done;
    }
    ref_buffer *buffer = calloc(1, sizeof *buffer);
    if (buffer == NULL || !buffer_set_insert(buffer)) {
        free(buffer);
        fail(WSAENOBUFS);
        goto done;
    }
    buffer->base = data;
    buffer->length = length;
    buffer->pages = pages;
    buffer->live = TRUE;
    stats.LiveRegistrations++;
    stats.RegisteredBytes += length;
    stats.LockedPages += pages;
    stats.TotalRegistrations++;
    id = (RIO_BUFFERID)buffer;
done:
    LeaveCriticalSection(&lock);
    return id;
}

static BOOL PASCAL ref_RIOResizeCompletionQueue(RIO_CQ id, DWORD size)
{
    BOOL ok = FALSE;
    EnterCriticalSection(&lock);
    ref_cq *cq = lookup_cq(id);
    if (cq == NULL || size < 1 || size > RIO_MAX_CQ_SIZE) {
        fail(WSAEINVAL);
        goto done;
    }
    if (size < cq->reserved || size < cq->count) {
        fail(WSAETOOMANYREFS);
        goto done;
    }
    ref_completion *ring = calloc(size, sizeof *ring);
    if (ring == NULL) {
        fail(WSAENOBUFS);
        goto done;
    }
    for (DWORD i = 0; i < cq->count; i++)
        ring[i] = cq->ring[(cq->head + i) % cq->capacity];
    free(cq->ring);
    cq->ring = ring;
    cq->head = 0;
    cq->capacity = size;
    ok = TRUE;
done:
    LeaveCriticalSection(&lock);
    return ok;
}

static BOOL PASCAL ref_RIOResizeRequestQueue(RIO_RQ id, DWORD max_receive, DWORD max_send)
{
    BOOL ok = FALSE;
    EnterCriticalSection(&lock);
    ref_rq *rq = lookup_live_rq(id);
    if (rq == NULL || (max_receive == 0 && max_send == 0)) {
        fail(WSAEINVAL);
        goto done;
    }
    if (rq->receive_cq == NULL || rq->send_cq == NULL) {
        fail(WSAEINVAL);
        goto done;
    }
    if (max_receive < rq->outstanding_receive || max_send < rq->outstanding_send) {
        fail(WSAETOOMANYREFS);
        goto done;
    }
    LONGLONG delta_r = (LONGLONG)max_receive - rq->max_receive;
    LONGLONG delta_s = (LONGLONG)max_send - rq->max_send;
    LONGLONG r_after = (LONGLONG)rq->receive_cq->reserved + delta_r + (rq->receive_cq == rq->send_cq ? delta_s : 0);
    LONGLONG s_after = (LONGLONG)rq->send_cq->reserved + delta_s + (rq->receive_cq == rq->send_cq ? delta_r : 0);
    if (r_after > rq->receive_cq->capacity || s_after > rq->send_cq->capacity) {
        fail(WSAENOBUFS);
        goto done;
    }
    rq->receive_cq->reserved = (DWORD)((LONGLONG)rq->receive_cq->reserved + delta_r);
    rq->send_cq->reserved = (DWORD)((LONGLONG)rq->send_cq->reserved + delta_s);
    rq->max_receive = max_receive;
    rq->max_send = max_send;
    ok = TRUE;
done:
    LeaveCriticalSection(&lock);
    return ok;
}

/* ---------------------------------------------------------------------------------- */
/* Exports                                                                            */
/* ---------------------------------------------------------------------------------- */

/*
 * Fills the table as WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
 * WSAID_MULTIPLE_RIO) would, with the same output contract: the caller passes the table
 * with cbSize set, its length, and receives the byte count. Returns 0, or SOCKET_ERROR with
 * WSAEFAULT (table missing or too short) or WSAEINVAL (cbSize not set) — stricter than
 * Winsock needs to be, so that a driver that forgets cbSize fails here.
 */
REF_EXPORT int WINAPI RioReferenceGetFunctionTable(PRIO_EXTENSION_FUNCTION_TABLE table, DWORD length,
                                                   LPDWORD bytes_returned)
{
    if (table == NULL || length < sizeof *table || !range_ok(table, sizeof *table, TRUE)) {
        WSASetLastError(WSAEFAULT);
        return SOCKET_ERROR;
    }
    if (table->cbSize != sizeof *table) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    table->RIOReceive = ref_RIOReceive;
    table->RIOReceiveEx = ref_RIOReceiveEx;
    table->RIOSend = ref_RIOSend;
    table->RIOSendEx = ref_RIOSendEx;
    table->RIOCloseCompletionQueue = ref_RIOCloseCompletionQueue;
    table->RIOCreateCompletionQueue = ref_RIOCreateCompletionQueue;
    table->RIOCreateRequestQueue = ref_RIOCreateRequestQueue;
    table->RIODequeueCompletion = ref_RIODequeueCompletion;
    table->RIODeregisterBuffer = ref_RIODeregisterBuffer;
    table->RIONotify = ref_RIONotify;
    table->RIORegisterBuffer = ref_RIORegisterBuffer;
    table->RIOResizeCompletionQueue = ref_RIOResizeCompletionQueue;
    table->RIOResizeRequestQueue = ref_RIOResizeRequestQueue;
    if (bytes_returned != NULL)
        *bytes_returned = sizeof *table;
    InterlockedIncrement(&function_table_requests);
    return 0;
}

/* How many times RioReferenceGetFunctionTable filled a table: shows that a caller took its
   table from this DLL. */
REF_EXPORT ULONG WINAPI RioReferenceFunctionTableRequests(void)
{
    return (ULONG)InterlockedCompareExchange(&function_table_requests, 0, 0);
}

/* The id of the one live registration that starts at `data`; RIO_INVALID_BUFFERID when
   there is none, or more than one (the answer would be a guess). Lets a test see the native
   id behind a caller's own handle without asking the caller. */
REF_EXPORT RIO_BUFFERID WINAPI RioReferenceFindRegistration(PCHAR data)
{
    RIO_BUFFERID found = RIO_INVALID_BUFFERID;
    int matches = 0;
    EnterCriticalSection(&lock);
    for (SIZE_T i = 0; i < buffer_set_capacity; i++) {
        ref_buffer *buffer = buffer_set[i];
        if (buffer != NULL && buffer != TOMBSTONE && buffer->base == data) {
            found = (RIO_BUFFERID)buffer;
            matches++;
        }
    }
    LeaveCriticalSection(&lock);
    return matches == 1 ? found : RIO_INVALID_BUFFERID;
}

/* Counters for leak checks. Request queues whose socket was closed are noticed here too. */
REF_EXPORT void WINAPI RioReferenceGetStats(PRIO_REFERENCE_STATS out)
{
    EnterCriticalSection(&lock);
    sweep_closed_sockets();
    if (out != NULL)
        *out = stats;
    LeaveCriticalSection(&lock);
}

/* Resource limits behind WSAENOBUFS from RIORegisterBuffer; 0 means "no limit". */
REF_EXPORT void WINAPI RioReferenceSetLimits(ULONG registrations, ULONGLONG registered_bytes)
{
    EnterCriticalSection(&lock);
    max_registrations = registrations ? registrations : 0xFFFFFFFFUL;
    max_registered_bytes = registered_bytes ? registered_bytes : ~0ULL;
    LeaveCriticalSection(&lock);
}

/* Makes the next RIORegisterBuffer fail with `code`, to test how callers map codes that
   the documentation does not list. */
REF_EXPORT void WINAPI RioReferenceFailNextRegistration(int code)
{
    InterlockedExchange((LONG *)&injected_registration_error, code);
}

/* Pairs two request queues: what one sends, the other receives (default: itself). */
REF_EXPORT BOOL WINAPI RioReferenceConnect(RIO_RQ a, RIO_RQ b)
{
    BOOL ok = FALSE;
    EnterCriticalSection(&lock);
    ref_rq *x = lookup_live_rq(a);
    ref_rq *y = lookup_live_rq(b);
    if (x != NULL && y != NULL) {
        x->peer = y;
        y->peer = x;
        ok = TRUE;
    } else {
        WSASetLastError(WSAEINVAL);
    }
    LeaveCriticalSection(&lock);
    return ok;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH) {
        SYSTEM_INFO info;
        GetSystemInfo(&info);
        page_size = info.dwPageSize;
        InitializeCriticalSection(&lock);
    } else if (reason == DLL_PROCESS_DETACH && reserved == NULL) {
        DeleteCriticalSection(&lock);
    }
    return TRUE;
}
