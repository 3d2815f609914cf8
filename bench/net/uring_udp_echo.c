/*
 * uring_udp_echo <port>: the C floor for the UDP echo bench. A plain liburing loop with
 * SLOTS receives outstanding; each slot owns its buffer, msghdr and peer address, and goes
 * recvmsg -> sendmsg (same buffer, same peer) -> recvmsg again. No registered buffers,
 * no multishot, no SQPOLL: a straightforward io_uring server, not a tuned one.
 * Prints "listening <port>" once bound and runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS 128
#define BUFSIZE 2048

struct slot {
  int sending; /* 0: a recvmsg is outstanding, 1: a sendmsg is */
  struct msghdr msg;
  struct iovec iov;
  struct sockaddr_in peer;
  char buf[BUFSIZE];
};

static struct io_uring ring;
static struct slot slots[SLOTS];
static int fd;

static struct io_uring_sqe *sqe(void) {
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  if (s == NULL) {
    /* The ring has as many entries as slots, so this only happens if submissions lag. */
    io_uring_submit(&ring);
    s = io_uring_get_sqe(&ring);
  }
  return s;
}

static void receive(struct slot *s) {
  s->sending = 0;
  s->iov.iov_len = BUFSIZE;
  s->msg.msg_namelen = sizeof s->peer;
  struct io_uring_sqe *e = sqe();
  io_uring_prep_recvmsg(e, fd, &s->msg, 0);
  io_uring_sqe_set_data(e, s);
}

static void echo(struct slot *s, int len) {
  s->sending = 1;
  s->iov.iov_len = len;
  struct io_uring_sqe *e = sqe();
  io_uring_prep_sendmsg(e, fd, &s->msg, 0);
  io_uring_sqe_set_data(e, s);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: uring_udp_echo <port>\n");
    return 2;
  }
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return perror("socket"), 1;
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(atoi(argv[1]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return perror("bind"), 1;
  socklen_t len = sizeof addr;
  getsockname(fd, (struct sockaddr *)&addr, &len);

  int ret = io_uring_queue_init(SLOTS * 2, &ring, 0);
  if (ret < 0) return fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret)), 1;
  for (int i = 0; i < SLOTS; i++) {
    struct slot *s = &slots[i];
    s->iov.iov_base = s->buf;
    s->msg.msg_name = &s->peer;
    s->msg.msg_iov = &s->iov;
    s->msg.msg_iovlen = 1;
    receive(s);
  }
  io_uring_submit(&ring);
  printf("listening %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  for (;;) {
    struct io_uring_cqe *cqe;
    ret = io_uring_submit_and_wait(&ring, 1);
    if (ret < 0 && ret != -EINTR) return fprintf(stderr, "io_uring_submit_and_wait: %s\n", strerror(-ret)), 1;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      struct slot *s = io_uring_cqe_get_data(cqe);
      seen++;
      /* A failed receive or send just recycles the slot: echo is best-effort, like UDP. */
      if (!s->sending && cqe->res > 0) echo(s, cqe->res);
      else receive(s);
    }
    io_uring_cq_advance(&ring, seen);
  }
}
