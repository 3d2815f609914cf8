/**
 * bench/net: what a server pins as connections pile up. The `@effect/platform` echo server on
 * RioSocketServer (io_uring) gets `CONNECTIONS` node:net clients that connect and stay idle;
 * its VmPin (/proc/<pid>/status) is read before and once every client is accepted, then every
 * client sends 64 bytes and must get them back (all connections still served). Only ours pins
 * memory (Node's servers pin none), so there is no ratio: the figure is compared with the
 * memory the server's options configure.
 */
import { readFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { start, stop } from "./processes.js"
import type { ServerSpec } from "./scenarios.js"

export const CONNECTIONS = 10_000

/** RioSocketServer's default receive ring (256 × 4 KiB) and send pool (64 × 16 KiB). */
const CONFIGURED_KIB = 256 * 4 + 64 * 16

export interface IdleConnections {
  readonly connections: number
  /** VmPin of the server listening, before any client. */
  readonly pinnedKiBBefore: number
  /** VmPin with every client connected and idle. */
  readonly pinnedKiBConnected: number
  readonly configuredKiB: number
  /** Clients that got their 64 bytes back afterwards. */
  readonly echoed: number
}

const SERVER: ServerSpec = {
  name: "ours (RioSocketServer)",
  role: "ours",
  requires: "bench/build/socket-echo.mjs",
  command: (port) => ["node", "bench/build/socket-echo.mjs", "rio", String(port)]
}

const vmPinKiB = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmPin:"))
  return line === undefined ? 0 : Number(line.split(/\s+/)[1])
}

const open = (port: number): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => resolve(socket))
    socket.once("error", reject)
  })

/** Resolves with whether `socket` echoed `bytes` exactly. */
const echo = (socket: Socket, bytes: Buffer): Promise<boolean> =>
  new Promise((resolve) => {
    const got: Array<Buffer> = []
    let length = 0
    socket.on("data", (chunk: Buffer) => {
      got.push(chunk)
      length += chunk.length
      if (length >= bytes.length) resolve(Buffer.concat(got).equals(bytes))
    })
    socket.once("close", () => resolve(false))
    socket.write(bytes)
  })

export const measureIdle = async (root: string): Promise<IdleConnections | string> => {
  const live = await start(root, SERVER, 0, false)
  if (typeof live === "string") return live
  const sockets: Array<Socket> = []
  try {
    const pid = live.child.pid!
    const pinnedKiBBefore = vmPinKiB(pid)
    // In waves: a backlog of 511 takes a burst of 10,000 connects only with retries.
    for (let at = 0; at < CONNECTIONS; at += 500) {
      sockets.push(...await Promise.all(Array.from({ length: Math.min(500, CONNECTIONS - at) }, () => open(live.port))))
    }
    // The server accepts as fast as it can; give it a moment to have them all.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const pinnedKiBConnected = vmPinKiB(pid)
    const results = await Promise.all(sockets.map((socket, i) => echo(socket, Buffer.alloc(64, i & 0xff))))
    return {
      connections: CONNECTIONS,
      pinnedKiBBefore,
      pinnedKiBConnected,
      configuredKiB: CONFIGURED_KIB,
      echoed: results.filter(Boolean).length
    }
  } catch (error) {
    return `failed: ${error instanceof Error ? error.message : String(error)}`
  } finally {
    for (const socket of sockets) socket.destroy()
    await stop(live.child)
  }
}

export const printIdle = (result: IdleConnections | string): void => {
  console.log(`### ${CONNECTIONS.toLocaleString("en-US")} idle connections on RioSocketServer (io_uring)\n`)
  if (typeof result === "string") return console.log(`skipped: ${result}\n`)
  console.log(
    `VmPin ${result.pinnedKiBBefore} KiB listening, ${result.pinnedKiBConnected} KiB with every client connected ` +
      `(configured: ${result.configuredKiB} KiB); then ${result.echoed} of ${result.connections} echoed 64 bytes\n`
  )
}
