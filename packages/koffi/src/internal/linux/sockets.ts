/**
 * The socket calls the Linux driver makes directly, not through the ring: creating and binding
 * a socket, reading its local address, setting its options. They return at once.
 *
 * @internal
 */
import type { NetDriverError, OptionSettings } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import { isIPv6Host } from "../options.js"
import * as Sockaddr from "../sockaddr.js"
import { fromErrno } from "./errors.js"
import * as Libc from "./libc.js"
import { Options } from "./options.js"

/** Linux's sockaddr layouts. */
export const sockaddr = new Sockaddr.Codec({ inet: Libc.AF_INET, inet6: Libc.AF_INET6 })

/** Socket set-up on one libc, with scratch memory for the addresses it passes. */
export class Sockets {
  private readonly socklen = new Uint32Array(1)
  private readonly name = new Uint8Array(Sockaddr.SOCKADDR_BYTES)
  private readonly nameView = new DataView(this.name.buffer)

  readonly options: Options

  constructor(private readonly libc: Libc.Libc) {
    this.options = new Options(libc)
  }

  /**
   * A close-on-exec socket of `type` for `host`'s family, or the typed error of `operation`.
   * An IPv6 socket is dual-stack, as Node's are: bound to "::" it also takes IPv4 peers
   * (seen IPv4-mapped). The sysctl `net.ipv6.bindv6only` only sets the default, so it is
   * turned off explicitly: a system with bindv6only=1 behaves the same.
   */
  open(host: string, type: number, operation: string): number | NetDriverError {
    const libc = this.libc
    const family = sockaddr.family(host)
    const fd = libc.socket(family, type | Libc.SOCK_CLOEXEC, 0)
    if (fd < 0) return fromErrno(libc.errno(), `${operation} (socket)`)
    if (family === Libc.AF_INET6 && libc.setsockoptInt(fd, Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, 0) < 0) {
      const errno = libc.errno()
      libc.close(fd)
      return fromErrno(errno, `${operation} (setsockopt IPV6_V6ONLY)`)
    }
    return fd
  }

  /** `open` with `settings` applied (for a socket that connects), or the error (the fd closed again). */
  configured(host: string, type: number, settings: OptionSettings, operation: string): number | NetDriverError {
    const fd = this.open(host, type, operation)
    if (typeof fd !== "number") return fd
    const error = this.options.apply(fd, isIPv6Host(host), settings, operation)
    if (error === undefined) return fd
    this.libc.close(fd)
    return error
  }

  /**
   * A socket of `type` bound to `bind` — after `prepare` (the platform's defaults), then
   * `settings` (the user's, which win) — or the typed error of the step that failed (the fd
   * closed again).
   */
  bound(
    type: number,
    bind: SocketAddress,
    settings: OptionSettings,
    operation: string,
    prepare?: (fd: number) => number
  ): number | NetDriverError {
    const libc = this.libc
    const fd = this.open(bind.host, type, operation)
    if (typeof fd !== "number") return fd
    const length = sockaddr.write(this.nameView, 0, bind)
    if (prepare !== undefined && prepare(fd) < 0) {
      return this.failed(fd, `${operation} (bind ${bind.host}:${bind.port})`)
    }
    const refused = this.options.apply(fd, isIPv6Host(bind.host), settings, operation)
    if (refused !== undefined) {
      libc.close(fd)
      return refused
    }
    if (libc.bind(fd, this.name.subarray(0, length), length) < 0) {
      return this.failed(fd, `${operation} (bind ${bind.host}:${bind.port})`)
    }
    return fd
  }

  /** connect(2) right away (a UDP socket's peer), or the typed error (the fd closed again). */
  connectNow(fd: number, peer: SocketAddress, operation: string): NetDriverError | undefined {
    const length = sockaddr.write(this.nameView, 0, peer)
    if (this.libc.connect(fd, this.name.subarray(0, length), length) === 0) return undefined
    return this.failed(fd, `${operation} (connect ${peer.host}:${peer.port})`)
  }

  /** Closes `fd` after a failed call, and the typed error of that call's errno. */
  private failed(fd: number, operation: string): NetDriverError {
    const errno = this.libc.errno()
    this.libc.close(fd)
    return fromErrno(errno, operation)
  }

  /** The address the kernel gave `fd` (its port when bound to port 0). */
  localAddress(fd: number): SocketAddress {
    this.socklen[0] = Sockaddr.SOCKADDR_BYTES
    this.libc.getsockname(fd, this.name, this.socklen)
    return sockaddr.read(this.nameView, 0)
  }

  // Like Node's servers: a restarted server can bind while old connections sit in TIME_WAIT.
  reuseAddress(fd: number): number {
    return this.libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1)
  }
}
