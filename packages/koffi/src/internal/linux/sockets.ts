/**
 * The socket calls the Linux driver makes directly, not through the ring: creating and binding
 * a socket, reading its local address, setting its options. They return at once.
 *
 * @internal
 */
import type { NetDriverError } from "@effect-rio/core/Driver"
import type { SocketAddress } from "@effect-rio/core/RegisteredSocket"
import * as Sockaddr from "../sockaddr.js"
import { fromErrno } from "./errors.js"
import * as Libc from "./libc.js"

/** Linux's sockaddr layouts. */
export const sockaddr = new Sockaddr.Codec({ inet: Libc.AF_INET, inet6: Libc.AF_INET6 })

/** Socket set-up on one libc, with scratch memory for the addresses it passes. */
export class Sockets {
  private readonly socklen = new Uint32Array(1)
  private readonly name = new Uint8Array(Sockaddr.SOCKADDR_BYTES)
  private readonly nameView = new DataView(this.name.buffer)

  constructor(private readonly libc: Libc.Libc) {}

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

  /**
   * A socket of `type` bound to `bind` (after `prepare`, when given), or the typed error of the
   * step that failed (the fd closed again).
   */
  bound(
    type: number,
    bind: SocketAddress,
    operation: string,
    prepare?: (fd: number) => number
  ): number | NetDriverError {
    const libc = this.libc
    const fd = this.open(bind.host, type, operation)
    if (typeof fd !== "number") return fd
    const length = sockaddr.write(this.nameView, 0, bind)
    if ((prepare !== undefined && prepare(fd) < 0) || libc.bind(fd, this.name.subarray(0, length), length) < 0) {
      const errno = libc.errno()
      libc.close(fd)
      return fromErrno(errno, `${operation} (bind ${bind.host}:${bind.port})`)
    }
    return fd
  }

  /** The address the kernel gave `fd` (its port when bound to port 0). */
  localAddress(fd: number): SocketAddress {
    this.socklen[0] = Sockaddr.SOCKADDR_BYTES
    this.libc.getsockname(fd, this.name, this.socklen)
    return sockaddr.read(this.nameView, 0)
  }

  // A slice is a message: send it now rather than wait to coalesce (Nagle), as on Winsock RIO.
  noDelay(fd: number): void {
    this.libc.setsockoptInt(fd, Libc.IPPROTO_TCP, Libc.TCP_NODELAY, 1)
  }

  // Like Node's servers: a restarted server can bind while old connections sit in TIME_WAIT.
  reuseAddress(fd: number): number {
    return this.libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1)
  }
}
