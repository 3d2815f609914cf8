/*
 * uring_tcp_echo <port>: the C floor for the TCP echo benches, built as our io_uring backend
 * receives: one multishot accept, one multishot RECV per connection drawing from one
 * provided-buffer ring (BUFFERS × BUFSIZE), each chunk echoed by a SEND straight from the
 * buffer it landed in, the buffer handed back when that send completes. At most one send per
 * connection is in the kernel (a partial send is finished first), so bytes never reorder.
 * SINGLE_ISSUER | DEFER_TASKRUN, one io_uring_submit_and_wait per turn. No registered files,
 * no SQPOLL, no zero-copy: a careful io_uring server, not an exotic one.
 * Prints "listening <port>" once bound and runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFERS 1024 /* a power of two */
#define BUFSIZE 16384
#define GROUP 0
#define MAX_FD 65536

/* user_data: the kind in the top byte, the fd below it. */
enum { ACCEPT = 1, RECV = 2, SEND = 3 };
#define DATA(kind, fd) (((__u64)(kind) << 56) | (__u64)(unsigned)(fd))

/* One connection's chunks waiting to be echoed, in order: a FIFO of buffer ids and lengths. */
struct conn {
  int head, count, sent; /* `sent`: bytes of the head chunk already taken by the kernel */
  int sending;
  int closing;
  unsigned short bid[BUFFERS];
  int len[BUFFERS];
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *pool;
static struct conn *conns[MAX_FD];
static int listener;

static struct io_uring_sqe *sqe(void) {
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  while (s == NULL) {
    io_uring_submit(&ring);
    s = io_uring_get_sqe(&ring);
  }
  return s;
}

static void give_back(int bid) {
  io_uring_buf_ring_add(br, pool + (size_t)bid * BUFSIZE, BUFSIZE, bid, io_uring_buf_ring_mask(BUFFERS), 0);
  io_uring_buf_ring_advance(br, 1);
}

static void arm_recv(int fd) {
  struct io_uring_sqe *e = sqe();
  io_uring_prep_recv_multishot(e, fd, NULL, 0, 0);
  e->flags |= IOSQE_BUFFER_SELECT;
  e->buf_group = GROUP;
  io_uring_sqe_set_data64(e, DATA(RECV, fd));
}

static void send_head(int fd, struct conn *c) {
  int at = c->head;
  struct io_uring_sqe *e = sqe();
  io_uring_prep_send(e, fd, pool + (size_t)c->bid[at] * BUFSIZE + c->sent, c->len[at] - c->sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(e, DATA(SEND, fd));
  c->sending = 1;
}

static void finish(int fd, struct conn *c) {
  /* Close only once nothing of the connection's is in the kernel: fd numbers are reused at once. */
  if (!c->closing || c->sending) return;
  while (c->count > 0) {
    give_back(c->bid[c->head]);
    c->head = (c->head + 1) % BUFFERS;
    c->count--;
  }
  conns[fd] = NULL;
  free(c);
  close(fd);
}

static void on_recv(int fd, int res, unsigned flags) {
  struct conn *c = conns[fd];
  if (c == NULL) return;
  int more = flags & IORING_CQE_F_MORE;
  if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
    int bid = flags >> IORING_CQE_BUFFER_SHIFT;
    if (c->closing) {
      give_back(bid);
      if (!more) finish(fd, c);
      return;
    }
    int at = (c->head + c->count) % BUFFERS;
    c->bid[at] = bid;
    c->len[at] = res;
    c->count++;
    if (!c->sending) send_head(fd, c);
    if (!more) arm_recv(fd);
    return;
  }
  if (res == -ENOBUFS && !c->closing) {
    /* The ring ran dry: the multishot ended; try again (buffers come back as sends complete). */
    if (!more) arm_recv(fd);
    return;
  }
  /* 0 (the peer's end) or an error: this connection is over once its sends are. */
  if (!more) {
    c->closing = 1;
    finish(fd, c);
  }
}

static void on_send(int fd, int res) {
  struct conn *c = conns[fd];
  if (c == NULL) return;
  c->sending = 0;
  if (res < 0) {
    /* Ends the multishot receive; its last completion closes the connection. */
    c->closing = 1;
    shutdown(fd, SHUT_RDWR);
    return;
  }
  c->sent += res;
  if (c->sent == c->len[c->head]) {
    give_back(c->bid[c->head]);
    c->head = (c->head + 1) % BUFFERS;
    c->count--;
    c->sent = 0;
  }
  if (c->count > 0 && !c->closing) send_head(fd, c);
  else finish(fd, c);
}

static void arm_accept(void) {
  struct io_uring_sqe *e = sqe();
  io_uring_prep_multishot_accept(e, listener, NULL, NULL, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(e, DATA(ACCEPT, listener));
}

static void on_accept(int res, unsigned flags) {
  if (!(flags & IORING_CQE_F_MORE)) arm_accept();
  if (res < 0) return;
  if (res >= MAX_FD) return (void)close(res);
  int one = 1;
  setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conns[res] = calloc(1, sizeof(struct conn));
  arm_recv(res);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: uring_tcp_echo <port>\n");
    return 2;
  }
  listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return perror("socket"), 1;
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) return perror("bind"), 1;
  if (listen(listener, 512) < 0) return perror("listen"), 1;
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);

  struct io_uring_params params = {0};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int ret = io_uring_queue_init_params(4096, &ring, &params);
  if (ret < 0) return fprintf(stderr, "io_uring_queue_init_params: %s\n", strerror(-ret)), 1;

  /* The provided-buffer ring: page-aligned entries, then the buffers themselves. */
  br = mmap(NULL, BUFFERS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  pool = malloc((size_t)BUFFERS * BUFSIZE);
  if (br == MAP_FAILED || pool == NULL) return perror("buffers"), 1;
  struct io_uring_buf_reg reg = {0};
  reg.ring_addr = (unsigned long)br;
  reg.ring_entries = BUFFERS;
  reg.bgid = GROUP;
  ret = io_uring_register_buf_ring(&ring, &reg, 0);
  if (ret < 0) return fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-ret)), 1;
  io_uring_buf_ring_init(br);
  for (int i = 0; i < BUFFERS; i++) give_back(i);

  arm_accept();
  io_uring_submit(&ring);
  printf("listening %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  for (;;) {
    struct io_uring_cqe *cqe;
    ret = io_uring_submit_and_wait(&ring, 1);
    if (ret < 0 && ret != -EINTR) return fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-ret)), 1;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      __u64 data = io_uring_cqe_get_data64(cqe);
      int fd = (int)(data & 0xffffffff);
      seen++;
      switch ((int)(data >> 56)) {
        case ACCEPT: on_accept(cqe->res, cqe->flags); break;
        case RECV: on_recv(fd, cqe->res, cqe->flags); break;
        case SEND: on_send(fd, cqe->res); break;
      }
    }
    io_uring_cq_advance(&ring, seen);
  }
}
