/**
 * Unix domain stream sockets on the layer's io_uring: listening on a path and connecting to
 * one (`struct sockaddr_un`). Once open they are stream fds like TCP's: sends, receives and
 * rings are `net.ts`'s, and so are accepting (through `accept` here) and closing (through
 * `closed` here, which removes a listener's path as libuv does when a Node server closes).
 *
 * @internal
 */
import type { Done, NetDriverError, NetSocket, OptionSettings, Pending, UnixSockets } from "@effect-rio/core/Driver"
import type { UnixAddress } from "@effect-rio/core/RegisteredSocket"
import * as RioError from "@effect-rio/core/RioError"
import { unlinkSync } from "node:fs"
import { completeLater } from "../operations.js"
import { fromErrno } from "./errors.js"
import * as Libc from "./libc.js"
import type { Options } from "./options.js"
import { Opcode } from "./queues.js"
import type { RingLoop } from "./ring.js"

const AF_UNIX = 1
/** `sa_family_t` and `sun_path[108]`. */
const SOCKADDR_UN_BYTES = 110
// An operation's scratch: the sockaddr_un at 0, the socklen_t an accept fills at 112.
const SOCKLEN = 112

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Writes the sockaddr_un of `path` (checked by the core: 1..107 bytes, no NUL); returns its length. */
const write = (bytes: Uint8Array, at: number, path: string): number => {
  bytes.fill(0, at, at + SOCKADDR_UN_BYTES)
  bytes[at] = AF_UNIX
  const { written } = encoder.encodeInto(path, bytes.subarray(at + 2, at + SOCKADDR_UN_BYTES - 1))
  return 2 + written + 1
}

/** The path of the sockaddr_un of `length` bytes at `at`: `""` for an unnamed socket. */
const read = (bytes: Uint8Array, at: number, length: number): UnixAddress => {
  const path = bytes.subarray(at + 2, at + Math.min(Math.max(length, 2), SOCKADDR_UN_BYTES))
  const end = path.indexOf(0)
  return { path: decoder.decode(end < 0 ? path : path.subarray(0, end)) }
}

/** The unnamed end a connecting socket is: it binds no path of its own. */
const unnamed: UnixAddress = Object.freeze({ path: "" })

/** Unix domain sockets on `loop`'s ring; `options` sets their buffer sizes. */
export class Unix implements UnixSockets {
  private readonly name = new Uint8Array(SOCKADDR_UN_BYTES)
  /** Listening fds and their paths, removed when the fd closes. */
  private readonly paths = new Map<number, string>()

  constructor(
    private readonly libc: Libc.Libc,
    private readonly loop: RingLoop,
    private readonly options: Options
  ) {}

  /** A close-on-exec stream socket with `settings`, or the typed error (the fd closed again). */
  private open(settings: OptionSettings, operation: string): number | NetDriverError {
    const libc = this.libc
    const fd = libc.socket(AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0)
    if (fd < 0) return fromErrno(libc.errno(), `${operation} (socket)`)
    const refused = this.options.apply(fd, false, settings, operation)
    if (refused === undefined) return fd
    libc.close(fd)
    return refused
  }

  listen(path: string, backlog: number, settings: OptionSettings): NetSocket<UnixAddress> | NetDriverError {
    const operation = "RegisteredSocket.listen"
    const fd = this.open(settings, operation)
    if (typeof fd !== "number") return fd
    const libc = this.libc
    const length = write(this.name, 0, path)
    const step = libc.bind(fd, this.name, length) < 0 ? "bind" : libc.listen(fd, backlog) < 0 ? "listen" : undefined
    if (step !== undefined) {
      const errno = libc.errno()
      libc.close(fd)
      // Bound but not listening: the file was made, and is this socket's to remove.
      if (step === "listen") unlink(path)
      return pathFailure(errno, `${operation} (${step} ${path})`, path)
    }
    this.paths.set(fd, path)
    return { handle: fd, local: { path }, remote: undefined }
  }

  connect(path: string, settings: OptionSettings, done: Done<NetSocket<UnixAddress>>): Pending {
    const operation = `RegisteredSocket.connect (${path})`
    const fd = this.open(settings, "RegisteredSocket.connect")
    if (typeof fd !== "number") return completeLater(done, fd)
    const { scratch } = this.loop
    return this.loop.start(
      (entry, userData) => {
        const length = write(scratch.bytes(entry), scratch.offset(entry), path)
        return { opcode: Opcode.CONNECT, fd, userData, addr: scratch.address(entry), off: length }
      },
      (result) => {
        if (result >= 0) return done({ handle: fd, local: unnamed, remote: { path } })
        this.libc.close(fd)
        done(pathFailure(-result, operation, path))
      }
    )
  }

  /** The next connection of the Unix listener `listener`, with `settings`. */
  accept(listener: NetSocket<UnixAddress>, settings: OptionSettings, done: Done<NetSocket>): Pending {
    const { scratch } = this.loop
    return this.loop.start(
      (entry, userData) => {
        scratch.words(entry)[(scratch.offset(entry) + SOCKLEN) / 4] = SOCKADDR_UN_BYTES
        return {
          opcode: Opcode.ACCEPT,
          fd: listener.handle,
          userData,
          addr: scratch.address(entry),
          off: scratch.address(entry) + SOCKLEN,
          opFlags: Libc.SOCK_CLOEXEC
        }
      },
      (result, entry) => {
        if (result < 0) return done(fromErrno(-result, "RegisteredSocket.accept"))
        const refused = this.options.apply(result, false, settings, "RegisteredSocket.accept")
        if (refused !== undefined) {
          this.libc.close(result)
          return done(refused)
        }
        const at = scratch.offset(entry)
        const length = scratch.words(entry)[(at + SOCKLEN) / 4]!
        done({ handle: result, local: listener.local, remote: read(scratch.bytes(entry), at, length) })
      }
    )
  }

  /** After `fd` closed: a listener's path goes with it. */
  closed(fd: number): void {
    const path = this.paths.get(fd)
    if (path === undefined) return
    this.paths.delete(fd)
    unlink(path)
  }
}

const ENOTDIR = 20

/**
 * The typed error of a call on `path` that failed with `errno`, said in terms of paths (the
 * generic messages speak of ports): in use, no permission, no such directory, nothing there.
 */
const pathFailure = (errno: number, operation: string, path: string): NetDriverError => {
  const cause = { errno }
  switch (errno) {
    case Libc.Errno.EADDRINUSE:
      return new RioError.WSAEADDRINUSE({
        operation,
        message: `${path} exists already (another listener's socket, a stale one, or another file): remove it ` +
          `first if it is stale (errno ${errno}).`,
        cause
      })
    case Libc.Errno.EACCES:
      return new RioError.WSAEACCES({
        operation,
        message: `No permission for ${path}: its directory must be writable to listen, the socket writable ` +
          `to connect (errno ${errno}).`,
        cause
      })
    case Libc.Errno.ENOENT:
    case ENOTDIR:
      // Connecting, no file is nothing listening, as a TCP port where no listener is.
      return operation.startsWith("RegisteredSocket.connect")
        ? new RioError.WSAECONNREFUSED({
          operation,
          message: `Nothing listens at ${path}: there is no such file.`,
          cause
        })
        : new RioError.WSAEADDRNOTAVAIL({
          operation,
          message: `${path} cannot be made: its directory does not exist (errno ${errno}).`,
          cause
        })
    default:
      return fromErrno(errno, operation)
  }
}

/** Removes the socket file; one already gone (removed by someone else) is no error. */
const unlink = (path: string): void => {
  try {
    unlinkSync(path)
  } catch {
    // ENOENT, or a directory that went read-only: nothing of ours is left to release.
  }
}
