/**
 * Sockets on the layer's io_uring: the core's `NetDriver` as io_uring operations.
 *
 * - TCP receive is READ_FIXED and TCP send WRITE_FIXED: the kernel uses the registered
 *   buffer's pinned pages directly. (Plain SEND refuses IORING_RECVSEND_FIXED_BUF — only
 *   SEND_ZC takes it, and zero-copy costs more than it saves for small messages.) The
 *   process ignores SIGPIPE, as Node does, so a write to a reset stream is EPIPE.
 *   UDP goes through RECVMSG / SENDMSG (they carry the peer's address and have no fixed-buffer
 *   form); their iovec points into the registered slice, so the data still lands there.
 * - Operations started in one event-loop turn are written to the mapped submission queue and
 *   handed to the kernel in one `io_uring_enter` (at `setImmediate`).
 * - Completions are read from the mapped completion queue: right after each submission
 *   (operations that completed inline need no wake-up), and when `wake.ts` reports that some
 *   arrived — an eventfd watched by the event loop itself, or a worker thread on older
 *   kernels. The event loop never blocks, and nothing keeps the process alive while nothing
 *   is outstanding.
 * - Cancellation is ASYNC_CANCEL by user_data; the cancelled operation still posts its own
 *   completion, and only that ends it.
 */
import type { Done, NetDriver, NetDriverError, Pending, Region, SocketAddress } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import koffi from "koffi"
import { OperationTable } from "../operations.js"
import * as Libc from "./libc.js"
import { fromErrno } from "./netErrors.js"
import type { Queues, Submission } from "./queues.js"
import { Opcode } from "./queues.js"
import * as Sockaddr from "./sockaddr.js"
import type { Ring } from "./uring.js"
import { IORING_SETUP_DEFER_TASKRUN } from "./uring.js"
import * as Wake from "./wake.js"

const MSG_TRUNC = 0x20
const MSG_NOSIGNAL = 0x4000
const SHUT = { read: 0, write: 1, both: 2 } as const

// Per-operation scratch for the structures the kernel reads or writes while the operation is
// outstanding: msghdr (56 bytes) at 0, iovec (16) at 56, sockaddr (28) at 72, socklen_t at 100.
const SLOT_BYTES = 128
const MSGHDR = 0
const IOVEC = 56
const SOCKADDR = 72
const SOCKLEN = 100
const CHUNK_SLOTS = 256

interface InFlight {
  readonly complete: (result: number) => void
  readonly userData: number
  cancelled: boolean
}

/** The operation table (user_data is its tag) and each slot's scratch memory. */
class Slots extends OperationTable<InFlight> {
  private readonly chunks: Array<
    { readonly view: DataView; readonly bytes: Uint8Array; readonly words: Uint32Array; readonly address: number }
  > = []

  override take(): number {
    const slot = super.take()
    if (slot >= this.chunks.length * CHUNK_SLOTS) {
      // A fresh ArrayBuffer's backing store never moves while it is referenced (it is, here).
      const buffer = new ArrayBuffer(CHUNK_SLOTS * SLOT_BYTES)
      this.chunks.push({
        view: new DataView(buffer),
        bytes: new Uint8Array(buffer),
        words: new Uint32Array(buffer),
        address: Number(koffi.address(buffer))
      })
    }
    return slot
  }

  view(slot: number): DataView {
    return this.chunks[Math.floor(slot / CHUNK_SLOTS)]!.view
  }

  bytes(slot: number): Uint8Array {
    return this.chunks[Math.floor(slot / CHUNK_SLOTS)]!.bytes
  }

  words(slot: number): Uint32Array {
    return this.chunks[Math.floor(slot / CHUNK_SLOTS)]!.words
  }

  /** Byte offset of the slot's scratch in its chunk's view. */
  offset(slot: number): number {
    return (slot % CHUNK_SLOTS) * SLOT_BYTES
  }

  address(slot: number): number {
    return this.chunks[Math.floor(slot / CHUNK_SLOTS)]!.address + this.offset(slot)
  }
}

/** The network half of the Linux driver; `close` ends it with the ring. */
export interface LinuxNet extends NetDriver {
  /** How completions wake the event loop (see `wake.ts`). */
  readonly wakeKind: Wake.Wake["kind"]
  readonly shutdownAll: () => void
}

export const make = (libc: Libc.Libc, ring: Ring, queues: Queues): LinuxNet | number => {
  const slots = new Slots()
  const backlog: Array<Submission> = []
  let flushScheduled = false
  let closed = false
  // With DEFER_TASKRUN, completion work runs only when this thread enters with GETEVENTS.
  const deferred = (ring.flags & IORING_SETUP_DEFER_TASKRUN) !== 0
  const addresses = new Sockaddr.Cache()
  const socklen = new Uint32Array(1)
  const nameBuffer = new ArrayBuffer(Sockaddr.SOCKADDR_BYTES)
  const nameView = new DataView(nameBuffer)

  const dispatch = (userData: number, result: number): void => {
    const operation = slots.get(userData)
    if (operation === undefined) return
    slots.release(userData)
    operation.complete(result)
  }

  const flush = (): void => {
    flushScheduled = false
    if (closed) return
    for (;;) {
      while (backlog.length > 0 && queues.push(backlog[0]!)) backlog.shift()
      if (queues.unsubmitted === 0) break
      const submitted = queues.submit(deferred)
      if (submitted === -16 /* EBUSY: completions overflowed; consume, then retry */) {
        if (queues.drain(dispatch) === 0) break
        continue
      }
      if (submitted <= 0) break
      if (backlog.length === 0) break
    }
    queues.drain(dispatch)
    settleWake()
  }

  const scheduleFlush = (): void => {
    if (flushScheduled) return
    flushScheduled = true
    setImmediate(flush)
  }

  /** A wake-up: run deferred completion work, read the completions, submit what they started. */
  const reap = (): void => {
    if (closed) return
    if (deferred) {
      // Each enter runs a bounded batch of the deferred work; run it all, reading as we go.
      let rounds = 0
      do {
        queues.submit(true)
        queues.drain(dispatch)
      } while (queues.hasDeferredWork && ++rounds < 64)
      if (queues.hasDeferredWork) setImmediate(reap)
    }
    queues.drain(dispatch)
    if (queues.unsubmitted > 0 || backlog.length > 0) scheduleFlush()
    settleWake()
  }

  const wake = deferred ? Wake.eventfd(libc, ring, reap) : Wake.thread(queues, reap)
  if (typeof wake === "number") return wake

  const settleWake = (): void => {
    if (slots.count > 0) wake.arm()
    else wake.idle()
  }

  const enqueue = (submission: Submission): void => {
    if (backlog.length > 0 || !queues.push(submission)) backlog.push(submission)
    scheduleFlush()
  }

  const start = (
    build: (slot: number, userData: number) => Submission,
    complete: (result: number, slot: number) => void
  ): Pending => {
    const slot = slots.take()
    const userData = slots.userData(slot)
    const submission = build(slot, userData)
    const operation: InFlight = { complete: (result) => complete(result, slot), userData, cancelled: false }
    slots.set(slot, operation)
    enqueue(submission)
    return {
      cancel: () => {
        if (operation.cancelled || slots.get(userData) !== operation) return
        operation.cancelled = true
        enqueue({ opcode: Opcode.ASYNC_CANCEL, fd: -1, userData: 0, addr: userData })
      }
    }
  }

  // A slice is a message: send it now rather than wait to coalesce (Nagle), as RIO does.
  const noDelay = (fd: number): void => {
    libc.setsockoptInt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1)
  }

  const localAddress = (fd: number): SocketAddress => {
    socklen[0] = Sockaddr.SOCKADDR_BYTES
    libc.getsockname(fd, new Uint8Array(nameBuffer), socklen)
    return Sockaddr.read(nameView, 0)
  }

  /** A bound socket of `type`, or the typed error of the step that failed (the fd closed again). */
  const bound = (
    type: number,
    bind: SocketAddress,
    operation: string,
    prepare?: (fd: number) => number
  ): number | NetDriverError => {
    const fd = libc.socket(Sockaddr.family(bind.host), type | Libc.SOCK_CLOEXEC, 0)
    if (fd < 0) return fromErrno(libc.errno(), `${operation} (socket)`)
    const length = Sockaddr.write(nameView, 0, bind)
    if (
      (prepare !== undefined && prepare(fd) < 0) || libc.bind(fd, new Uint8Array(nameBuffer, 0, length), length) < 0
    ) {
      const errno = libc.errno()
      libc.close(fd)
      return fromErrno(errno, `${operation} (bind ${bind.host}:${bind.port})`)
    }
    return fd
  }

  /** READ_FIXED / WRITE_FIXED over a region: the kernel uses the registration's pinned pages. */
  const fixed = (opcode: number, fd: number, region: Region, complete: (result: number) => void): Pending =>
    start(
      (_, userData) => ({
        opcode,
        fd,
        userData,
        addr: region.base + region.offset,
        len: region.length,
        off: 0,
        bufIndex: region.bufferId
      }),
      complete
    )

  /** A byte count, or the typed error of a negative result. */
  const count = (operation: string, done: Done<number>) => (result: number) =>
    done(result >= 0 ? result : fromErrno(-result, operation))

  /** Writes a msghdr for one iovec over `region` (and the address when sending) into the slot. */
  const message = (slot: number, region: Region, peer: SocketAddress | undefined): number => {
    const view = slots.view(slot)
    const at = slots.offset(slot)
    const base = slots.address(slot)
    slots.words(slot).fill(0, at / 4, (at + SLOT_BYTES) / 4)
    let nameLength = Sockaddr.SOCKADDR_BYTES
    if (peer !== undefined) {
      const encoded = addresses.encode(peer)
      slots.bytes(slot).set(encoded, at + SOCKADDR)
      nameLength = encoded.length
    }
    setU64(view, at + MSGHDR, base + SOCKADDR)
    view.setUint32(at + MSGHDR + 8, nameLength, true)
    setU64(view, at + MSGHDR + 16, base + IOVEC)
    setU64(view, at + MSGHDR + 24, 1)
    setU64(view, at + IOVEC, region.base + region.offset)
    setU64(view, at + IOVEC + 8, region.length)
    return base + MSGHDR
  }

  const net: LinuxNet = {
    udp: (bind) => {
      const fd = bound(Libc.SOCK_DGRAM, bind, "RegisteredSocket.udp")
      if (typeof fd !== "number") return fd
      return { handle: fd, local: localAddress(fd), remote: undefined }
    },

    listen: (bind, backlog) => {
      const fd = bound(
        Libc.SOCK_STREAM,
        bind,
        "RegisteredSocket.listen",
        // Like Node's servers: a restarted server can bind while old connections sit in TIME_WAIT.
        (fd) => libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1)
      )
      if (typeof fd !== "number") return fd
      if (libc.listen(fd, backlog) < 0) {
        const errno = libc.errno()
        libc.close(fd)
        return fromErrno(errno, "RegisteredSocket.listen (listen)")
      }
      return { handle: fd, local: localAddress(fd), remote: undefined }
    },

    connect: (peer, done) => {
      const fd = libc.socket(Sockaddr.family(peer.host), Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0)
      if (fd < 0) {
        const error = fromErrno(libc.errno(), "RegisteredSocket.connect (socket)")
        setImmediate(() => done(error))
        return { cancel: () => {} }
      }
      return start(
        (slot, userData) => {
          const length = Sockaddr.write(slots.view(slot), slots.offset(slot) + SOCKADDR, peer)
          return { opcode: Opcode.CONNECT, fd, userData, addr: slots.address(slot) + SOCKADDR, off: length }
        },
        (result) => {
          if (result < 0) {
            libc.close(fd)
            return done(fromErrno(-result, `RegisteredSocket.connect (${peer.host}:${peer.port})`))
          }
          noDelay(fd)
          done({ handle: fd, local: localAddress(fd), remote: peer })
        }
      )
    },

    accept: (listener, done) =>
      start(
        (slot, userData) => {
          slots.view(slot).setUint32(slots.offset(slot) + SOCKLEN, Sockaddr.SOCKADDR_BYTES, true)
          return {
            opcode: Opcode.ACCEPT,
            fd: listener.handle,
            userData,
            addr: slots.address(slot) + SOCKADDR,
            off: slots.address(slot) + SOCKLEN,
            opFlags: Libc.SOCK_CLOEXEC
          }
        },
        (result, slot) => {
          if (result < 0) return done(fromErrno(-result, "RegisteredSocket.accept"))
          noDelay(result)
          done({
            handle: result,
            local: localAddress(result),
            remote: Sockaddr.read(slots.view(slot), slots.offset(slot) + SOCKADDR)
          })
        }
      ),

    send: (socket, region, done) => fixed(Opcode.WRITE_FIXED, socket.handle, region, count("RIOSend", done)),

    receive: (socket, region, done) => fixed(Opcode.READ_FIXED, socket.handle, region, count("RIOReceive", done)),

    sendTo: (socket, region, peer, done) =>
      start(
        (slot, userData) => ({
          opcode: Opcode.SENDMSG,
          fd: socket.handle,
          userData,
          addr: message(slot, region, peer),
          len: 1,
          opFlags: MSG_NOSIGNAL
        }),
        count("RIOSendEx", done)
      ),

    receiveFrom: (socket, region, done) =>
      start(
        (slot, userData) => ({
          opcode: Opcode.RECVMSG,
          fd: socket.handle,
          userData,
          addr: message(slot, region, undefined),
          len: 1,
          // With MSG_TRUNC the result is the datagram's real length, so a truncation shows.
          opFlags: MSG_TRUNC
        }),
        (result, slot) => {
          if (result < 0) return done(fromErrno(-result, "RIOReceiveEx"))
          if (result > region.length) return done(truncated(result, region.length))
          done({ length: result, address: addresses.decode(slots.view(slot), slots.offset(slot) + SOCKADDR) })
        }
      ),

    shutdown: (socket, how) =>
      libc.shutdown(socket.handle, SHUT[how]) < 0 ? fromErrno(libc.errno(), "shutdown") : undefined,

    close: (socket) => {
      libc.close(socket.handle)
    },

    wakeKind: wake.kind,

    shutdownAll: () => {
      if (closed) return
      wake.close()
      closed = true
      queues.unmap()
    }
  }
  return net
}

const truncated = (length: number, room: number): NetDriverError =>
  new RioError.WSAEMSGSIZE({
    operation: "RIOReceiveEx",
    message: `A datagram of ${length} bytes does not fit the ${room}-byte slice: its first ${room} bytes landed ` +
      "in the slice and the rest is lost. Receive into larger slices.",
    cause: { length }
  })

const setU64 = (view: DataView, at: number, value: number): void => {
  view.setUint32(at, value % 0x1_0000_0000, true)
  view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true)
}
