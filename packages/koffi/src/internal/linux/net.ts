/**
 * Sockets on the layer's io_uring: the core's `NetDriver` as io_uring operations, run by
 * `ring.ts`.
 *
 * - TCP receive is READ_FIXED and TCP send WRITE_FIXED: the kernel uses the registered
 *   buffer's pinned pages directly. (Plain SEND refuses IORING_RECVSEND_FIXED_BUF — only
 *   SEND_ZC takes it, and zero-copy costs more than it saves for small messages.) The
 *   process ignores SIGPIPE, as Node does, so a write to a reset stream is EPIPE. A send that
 *   must not wait is WRITE_FIXED with RWF_NOWAIT (a full socket answers EAGAIN at once instead
 *   of io_uring polling for room with the slot in hand); a wait for room is POLL_ADD(POLLOUT).
 * - Unix domain stream sockets (`unix.ts`) are opened by path and then run as TCP streams do.
 * - UDP goes through RECVMSG / SENDMSG (they carry the peer's address and have no fixed-buffer
 *   form); their iovec points into the registered slice, so the data still lands there.
 * - UDP receive rings, where the kernel has them, are one multishot RECVMSG per socket into a
 *   provided-buffer ring over the ring's slots (`receiveRings.ts`); TCP receive rings are one
 *   multishot RECV per stream into a provided-buffer ring that many streams share
 *   (`streamRings.ts`).
 *
 * @internal
 */
import type { Done, NetDriver, NetSocket, Pending, ReceiveRings, Region, StreamRings } from "@effect-rio/core/Driver"
import type { SocketAddress, UnixAddress } from "@effect-rio/core/RegisteredSocket"
import { setU64 } from "../native.js"
import { completeLater, nothingToCancel } from "../operations.js"
import { isIPv6Host } from "../options.js"
import * as Sockaddr from "../sockaddr.js"
import { fromErrno, truncated } from "./errors.js"
import * as Libc from "./libc.js"
import { Opcode } from "./queues.js"
import type { Operation, RingLoop } from "./ring.js"
import { SCRATCH_BYTES } from "./ring.js"
import { sockaddr, Sockets } from "./sockets.js"
import { Unix } from "./unix.js"

const MSG_TRUNC = 0x20
const RWF_NOWAIT = 0x8
const POLLOUT = 0x4
const EAGAIN = 11
const MSG_NOSIGNAL = 0x4000
const SHUT = { read: 0, write: 1, both: 2 } as const

// An operation's scratch: msghdr (56 bytes) at 0, iovec (16) at 56, sockaddr (28) at 72,
// socklen_t at 100 — or, for a gathered send, the msghdr and up to GATHER iovecs from 56.
// Every field is 4-byte aligned, so the words view writes them all.
const MSGHDR = 0
const IOVEC = 56
const SOCKADDR = 72
const SOCKLEN = 100
const MESSAGE_BYTES = SOCKLEN + 4
const GATHER = (SCRATCH_BYTES - IOVEC) / 16

const isUnix = (socket: NetSocket): socket is NetSocket<UnixAddress> => "path" in socket.local

/** Whether an IP socket is IPv6 (a Unix socket's options are all SOL_SOCKET's, the same for either). */
const isIPv6 = (socket: NetSocket): boolean => "host" in socket.local && isIPv6Host(socket.local.host)

/**
 * A UDP send, as the record its table entry reuses. A datagram send never waits for a peer,
 * so it is not cancelled (as on Winsock RIO): it completes, and only then is its memory free.
 */
class DatagramSend implements Operation {
  userData = 0
  cancelled = false
  private done: Done<number> | undefined = undefined

  arm(userData: number, done: Done<number>): void {
    this.userData = userData
    this.done = done
  }

  complete(result: number): void {
    // Read before calling: `done` may start a send that takes this very record again.
    const done = this.done!
    this.done = undefined
    done(result >= 0 ? result : fromErrno(-result, "sendTo"))
  }
}

/**
 * A stream's READ_FIXED or WRITE_FIXED: one object per operation, at once the ring's record and
 * the caller's `Pending`, so that the hot path of TCP allocates no closure and no submission.
 * (Not reused like `DatagramSend`: a stream's send can be cancelled, and a late `cancel` must
 * find its own operation gone, not a later one in the same record.)
 */
class Transfer implements Operation, Pending {
  cancelled = false

  constructor(
    private readonly loop: RingLoop,
    readonly userData: number,
    private readonly done: Done<number>,
    private readonly operation: "send" | "receive",
    /** A send that must not wait (RWF_NOWAIT): a full socket's EAGAIN is 0 bytes taken. */
    private readonly mayNotWait: boolean
  ) {}

  complete(result: number): void {
    if (result >= 0) this.done(result)
    else if (result === -EAGAIN && this.mayNotWait) this.done(0)
    else this.done(fromErrno(-result, this.operation))
  }

  cancel(): void {
    this.loop.cancel(this)
  }
}

/**
 * The core's `NetDriver` on `loop`'s ring; `addresses` decodes and encodes peers (shared with
 * the receive rings, so a peer is one object wherever it is seen), and `receiveRings` and
 * `streamRings` are offered when the kernel runs them.
 */
export const make = (
  libc: Libc.Libc,
  loop: RingLoop,
  addresses: Sockaddr.Cache = new Sockaddr.Cache(sockaddr),
  receiveRings?: ReceiveRings,
  streamRings?: StreamRings
): NetDriver => {
  const { scratch, start } = loop
  const sockets = new Sockets(libc)
  const unix = new Unix(libc, loop, sockets.options)
  const datagramSends: Array<DatagramSend | undefined> = []

  /** READ_FIXED / WRITE_FIXED over a region: the kernel uses the registration's pinned pages. */
  const transfer = (
    opcode: number,
    socket: NetSocket,
    region: Region,
    done: Done<number>,
    operation: "send" | "receive",
    opFlags: number
  ): Pending => {
    const entry = loop.take()
    const record = new Transfer(loop, loop.userData(entry), done, operation, opFlags === RWF_NOWAIT)
    const addr = region.base + region.offset
    loop.submitPlain(entry, record, opcode, socket.handle, addr, region.length, opFlags, region.bufferId)
    return record
  }

  /** A byte count, or the typed error of a negative result. */
  const count = (operation: string, done: Done<number>) => (result: number) =>
    done(result >= 0 ? result : fromErrno(-result, operation))

  /**
   * Writes a msghdr for one iovec over `region` into the entry's scratch: with room for the
   * sender's address (a receive), with `peer`'s (a send), or with none (`"connected"`: a send
   * on a connected socket, which goes to its peer).
   */
  const message = (entry: number, region: Region, peer: SocketAddress | "connected" | undefined): number => {
    const words = scratch.words(entry)
    const at = scratch.offset(entry)
    const base = scratch.address(entry)
    words.fill(0, at / 4, (at + MESSAGE_BYTES) / 4)
    let nameLength = Sockaddr.SOCKADDR_BYTES
    if (peer !== undefined && peer !== "connected") {
      const encoded = addresses.encode(peer)
      scratch.bytes(entry).set(encoded, at + SOCKADDR)
      nameLength = encoded.length
    }
    if (peer !== "connected") {
      setU64(words, (at + MSGHDR) / 4, base + SOCKADDR)
      words[(at + MSGHDR + 8) / 4] = nameLength
    }
    setU64(words, (at + MSGHDR + 16) / 4, base + IOVEC)
    setU64(words, (at + MSGHDR + 24) / 4, 1)
    setU64(words, (at + IOVEC) / 4, region.base + region.offset)
    setU64(words, (at + IOVEC + 8) / 4, region.length)
    return base + MSGHDR
  }

  return {
    udp: (bind, settings, peer) => {
      const fd = sockets.bound(Libc.SOCK_DGRAM, bind, settings, "RegisteredSocket.udp")
      if (typeof fd !== "number") return fd
      // A UDP connect only records the peer: it returns at once, outside the ring.
      const refused = peer === undefined ? undefined : sockets.connectNow(fd, peer, "RegisteredSocket.udp")
      if (refused !== undefined) return refused
      return { handle: fd, local: sockets.localAddress(fd), remote: peer }
    },

    listen: (bind, backlog, settings) => {
      const fd = sockets.bound(
        Libc.SOCK_STREAM,
        bind,
        settings,
        "RegisteredSocket.listen",
        (fd) => sockets.reuseAddress(fd)
      )
      if (typeof fd !== "number") return fd
      if (libc.listen(fd, backlog) < 0) {
        const errno = libc.errno()
        libc.close(fd)
        return fromErrno(errno, "RegisteredSocket.listen (listen)")
      }
      return { handle: fd, local: sockets.localAddress(fd), remote: undefined }
    },

    connect: (peer, settings, done) => {
      const fd = sockets.configured(peer.host, Libc.SOCK_STREAM, settings, "RegisteredSocket.connect")
      if (typeof fd !== "number") return completeLater(done, fd)
      return start(
        (entry, userData) => {
          const length = sockaddr.write(scratch.view(entry), scratch.offset(entry) + SOCKADDR, peer)
          return { opcode: Opcode.CONNECT, fd, userData, addr: scratch.address(entry) + SOCKADDR, off: length }
        },
        (result) => {
          if (result < 0) {
            libc.close(fd)
            return done(fromErrno(-result, `RegisteredSocket.connect (${peer.host}:${peer.port})`))
          }
          done({ handle: fd, local: sockets.localAddress(fd), remote: peer })
        }
      )
    },

    unix,

    accept: (listener, settings, done) =>
      isUnix(listener) ? unix.accept(listener, settings, done) : start(
        (entry, userData) => {
          scratch.words(entry)[(scratch.offset(entry) + SOCKLEN) / 4] = Sockaddr.SOCKADDR_BYTES
          return {
            opcode: Opcode.ACCEPT,
            fd: listener.handle,
            userData,
            addr: scratch.address(entry) + SOCKADDR,
            off: scratch.address(entry) + SOCKLEN,
            opFlags: Libc.SOCK_CLOEXEC
          }
        },
        (result, entry) => {
          if (result < 0) return done(fromErrno(-result, "RegisteredSocket.accept"))
          const refused = sockets.options.apply(result, isIPv6(listener), settings, "RegisteredSocket.accept")
          if (refused !== undefined) {
            libc.close(result)
            return done(refused)
          }
          done({
            handle: result,
            local: sockets.localAddress(result),
            remote: sockaddr.read(scratch.view(entry), scratch.offset(entry) + SOCKADDR)
          })
        }
      ),

    send: (socket, region, done) => transfer(Opcode.WRITE_FIXED, socket, region, done, "send", 0),

    sendNow: (socket, region, done) => transfer(Opcode.WRITE_FIXED, socket, region, done, "send", RWF_NOWAIT),

    whenWritable: (socket, done) =>
      start(
        (_, userData) => ({ opcode: Opcode.POLL_ADD, fd: socket.handle, userData, opFlags: POLLOUT }),
        (result) => done(result >= 0 ? 0 : fromErrno(-result, "send"))
      ),

    // A batch of slices in one SENDMSG: its iovecs point into the registrations.
    gatherSend: {
      maxRegions: GATHER,
      send: (socket, regions, from, length, skip, done) =>
        start(
          (entry, userData) => {
            const words = scratch.words(entry)
            const at = scratch.offset(entry)
            const base = scratch.address(entry)
            words.fill(0, at / 4, (at + IOVEC) / 4)
            setU64(words, (at + MSGHDR + 16) / 4, base + IOVEC)
            setU64(words, (at + MSGHDR + 24) / 4, length)
            for (let i = 0; i < length; i++) {
              const region = regions[from + i]!
              const cut = i === 0 ? skip : 0
              setU64(words, (at + IOVEC + i * 16) / 4, region.base + region.offset + cut)
              setU64(words, (at + IOVEC + i * 16 + 8) / 4, region.length - cut)
            }
            return {
              opcode: Opcode.SENDMSG,
              fd: socket.handle,
              userData,
              addr: base + MSGHDR,
              len: 1,
              opFlags: MSG_NOSIGNAL
            }
          },
          count("sendMany", done)
        )
    },

    receive: (socket, region, done) => transfer(Opcode.READ_FIXED, socket, region, done, "receive", 0),

    // The hot path of UDP replies: a reused record per table entry, no closure, no object.
    sendTo: (socket, region, peer, done) => {
      const entry = loop.take()
      const send = datagramSends[entry] ??= new DatagramSend()
      send.arm(loop.userData(entry), done)
      const header = message(entry, region, peer ?? "connected")
      loop.submitPlain(entry, send, Opcode.SENDMSG, socket.handle, header, 1, MSG_NOSIGNAL, 0)
      return nothingToCancel
    },

    receiveFrom: (socket, region, done) =>
      start(
        (entry, userData) => ({
          opcode: Opcode.RECVMSG,
          fd: socket.handle,
          userData,
          addr: message(entry, region, undefined),
          len: 1,
          // With MSG_TRUNC the result is the datagram's real length, so a truncation shows.
          opFlags: MSG_TRUNC
        }),
        (result, entry) => {
          if (result < 0) return done(fromErrno(-result, "receiveFrom"))
          const address = addresses.decode(scratch.view(entry), scratch.offset(entry) + SOCKADDR)
          if (result > region.length) return done(truncated(result, region.length, address))
          done({ length: result, address })
        }
      ),

    shutdown: (socket, how) =>
      libc.shutdown(socket.handle, SHUT[how]) < 0 ? fromErrno(libc.errno(), "shutdown") : undefined,

    close: (socket) => {
      libc.close(socket.handle)
      unix.closed(socket.handle)
    },

    setOption: (socket, name, value) => sockets.options.set(socket.handle, isIPv6(socket), name, value, "setOption"),
    getOption: (socket, name) => sockets.options.get(socket.handle, isIPv6(socket), name),
    membership: (socket, group, iface, join) =>
      sockets.options.membership(socket.handle, isIPv6(socket), group, iface, join),

    ...(receiveRings === undefined ? {} : { udpReceiveRings: receiveRings }),
    ...(streamRings === undefined ? {} : { tcpReceiveRings: streamRings })
  }
}
