/*
 * The one load generator for every echo server in bench/net, so that the servers are
 * compared under identical client cost. Single-threaded on purpose: the bench machine may
 * have only two cores, and the server needs one of them.
 *
 *   loadgen udp <port> <inflight> <seconds>
 *     keeps <inflight> 64-byte datagrams outstanding against 127.0.0.1:<port>.
 *     {"roundTrips":N,"seconds":S,"rate":R,"errors":E,"lost":L}
 *
 *   loadgen tcp <port> <connections> <size> <seconds>
 *     each connection ping-pongs <size>-byte messages (send all, wait for all back).
 *     {"messages":N,"bytes":B,"seconds":S,"rate":R,"gbps":G,"errors":E}
 *     gbps is gigaBYTES (1e9) of echoed payload per second.
 *
 * Every payload carries a sequence number (TCP: and the connection number) and a pattern;
 * a reply that does not match what was sent counts as an error, not as a round trip. The first WARMUP seconds
 * are excluded from the figures; the program then runs <seconds> more and exits by itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 0.5
#define UDP_SIZE 64

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

/* Byte i of message `seq`: the sequence number in the first 8 bytes, then a pattern that
 * also moves with seq, so a stale or shuffled reply cannot pass for the expected one. */
static void fill(uint8_t *buf, size_t size, uint64_t seq, uint64_t salt) {
  memcpy(buf, &seq, sizeof seq);
  for (size_t i = sizeof seq; i < size; i++) buf[i] = (uint8_t)(i * 31 + seq * 7 + salt * 13);
}

/* ---- UDP ---------------------------------------------------------------------------- */

static int udp(int port, int inflight, double seconds) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in addr = loopback(port);
  /* connect() so that stray datagrams from other ports are filtered by the kernel. */
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  /* A timeout stands in for loss detection: if nothing comes back for 50 ms, whatever is
   * outstanding is presumed lost and the window is refilled, so a drop cannot stall us. */
  struct timeval tv = {0, 50 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  uint8_t out[UDP_SIZE], in[UDP_SIZE + 1], want[UDP_SIZE];
  uint64_t next = 0, roundTrips = 0, errors = 0, lost = 0;
  int outstanding = 0;
  double start = now(), t0 = start + WARMUP, t1 = t0 + seconds;
  int measuring = 0;

  for (;;) {
    while (outstanding < inflight) {
      fill(out, UDP_SIZE, next++, 0);
      if (send(fd, out, UDP_SIZE, 0) != UDP_SIZE) die("send");
      outstanding++;
    }
    ssize_t n = recv(fd, in, sizeof in, 0);
    double t = now();
    if (t >= t1) break;
    if (!measuring && t >= t0) {
      measuring = 1;
      roundTrips = errors = lost = 0;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        lost += outstanding;
        outstanding = 0;
        continue;
      }
      if (errno == EINTR) continue;
      /* ECONNREFUSED: the server is not there (yet); treat like a loss. */
      if (errno == ECONNREFUSED) {
        lost += outstanding;
        outstanding = 0;
        continue;
      }
      die("recv");
    }
    if (outstanding > 0) outstanding--;
    uint64_t seq;
    memcpy(&seq, in, sizeof seq);
    if (n == UDP_SIZE && seq < next) {
      fill(want, UDP_SIZE, seq, 0);
      if (memcmp(in, want, UDP_SIZE) == 0) {
        roundTrips++;
        continue;
      }
    }
    errors++;
  }
  printf("{\"roundTrips\":%llu,\"seconds\":%.3f,\"rate\":%.1f,\"errors\":%llu,\"lost\":%llu}\n",
         (unsigned long long)roundTrips, seconds, roundTrips / seconds, (unsigned long long)errors,
         (unsigned long long)lost);
  close(fd);
  return 0;
}

/* ---- TCP ---------------------------------------------------------------------------- */

struct conn {
  int fd;
  uint64_t seq;     /* sequence number of the message in flight */
  size_t sent;      /* bytes of it written so far */
  size_t received;  /* bytes of its echo read so far */
  int wantWrite;    /* EPOLLOUT registered */
  uint8_t *out, *in;
};

static void watch(int ep, struct conn *c, int wantWrite) {
  if (c->wantWrite == wantWrite) return;
  struct epoll_event ev = {.events = EPOLLIN | (wantWrite ? EPOLLOUT : 0), .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
  c->wantWrite = wantWrite;
}

/* Write as much of the current message as the socket takes; ask for EPOLLOUT if not all. */
static void pump(int ep, struct conn *c, size_t size) {
  while (c->sent < size) {
    ssize_t n = send(c->fd, c->out + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      die("send");
    }
    c->sent += n;
  }
  watch(ep, c, c->sent < size);
}

static void begin(int ep, struct conn *c, size_t size, uint64_t salt) {
  /* Only the header changes per message (seq + connection); refilling 64 KiB each time
   * would cost the client a noticeable share of a core in the bulk case. */
  memcpy(c->out, &c->seq, sizeof c->seq);
  memcpy(c->out + 8, &salt, sizeof salt);
  c->sent = 0;
  c->received = 0;
  pump(ep, c, size);
}

static int tcp(int port, int connections, size_t size, double seconds) {
  if (size < 16) {
    fprintf(stderr, "size must be at least 16\n");
    return 2;
  }
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct conn *conns = calloc(connections, sizeof *conns);
  struct sockaddr_in addr = loopback(port);
  for (int i = 0; i < connections; i++) {
    struct conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) die("socket");
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    int one = 1;
    /* Ping-pong of small messages must not wait on Nagle. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Non-blocking after connect: one thread drives every connection through epoll. */
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
    c->out = malloc(size);
    c->in = malloc(size);
    fill(c->out, size, 0, i);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  }
  for (int i = 0; i < connections; i++) begin(ep, &conns[i], size, i);

  uint64_t messages = 0, errors = 0;
  double start = now(), t0 = start + WARMUP, t1 = t0 + seconds;
  int measuring = 0;
  struct epoll_event events[64];
  for (;;) {
    int n = epoll_wait(ep, events, 64, 10);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    double t = now();
    if (t >= t1) break;
    if (!measuring && t >= t0) {
      measuring = 1;
      messages = errors = 0;
    }
    for (int e = 0; e < n; e++) {
      struct conn *c = events[e].data.ptr;
      uint64_t salt = (uint64_t)(c - conns);
      if (events[e].events & (EPOLLERR | EPOLLHUP)) {
        fprintf(stderr, "connection %llu closed by the server\n", (unsigned long long)salt);
        return 3;
      }
      if (events[e].events & EPOLLOUT) pump(ep, c, size);
      if (!(events[e].events & EPOLLIN)) continue;
      for (;;) {
        ssize_t r = recv(c->fd, c->in + c->received, size - c->received, 0);
        if (r < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == EINTR) continue;
          die("recv");
        }
        if (r == 0) {
          fprintf(stderr, "connection %llu: EOF from the server\n", (unsigned long long)salt);
          return 3;
        }
        c->received += r;
        if (c->received < size) continue;
        if (memcmp(c->in, c->out, size) == 0) messages++;
        else errors++;
        c->seq++;
        begin(ep, c, size, salt);
        /* Keep to one message at a time: leave the rest to the next epoll round. */
        break;
      }
    }
  }
  double bytes = (double)messages * size;
  printf("{\"messages\":%llu,\"bytes\":%.0f,\"seconds\":%.3f,\"rate\":%.1f,\"gbps\":%.4f,\"errors\":%llu}\n",
         (unsigned long long)messages, bytes, seconds, messages / seconds, bytes / seconds / 1e9,
         (unsigned long long)errors);
  for (int i = 0; i < connections; i++) close(conns[i].fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "udp") == 0)
    return udp(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
  if (argc == 6 && strcmp(argv[1], "tcp") == 0)
    return tcp(atoi(argv[2]), atoi(argv[3]), (size_t)atol(argv[4]), atof(argv[5]));
  fprintf(stderr,
          "usage: loadgen udp <port> <inflight> <seconds>\n"
          "       loadgen tcp <port> <connections> <size> <seconds>\n");
  return 2;
}
