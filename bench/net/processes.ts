/**
 * The bench's child processes: a tool run to completion (compiler, load generator), and a
 * server spawned, waited for until it listens, and stopped — never left behind.
 */
import type { ChildProcess } from "node:child_process"
import { execFile, spawn } from "node:child_process"
import dgram from "node:dgram"
import * as Net from "node:net"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { pathToFileURL } from "node:url"
import type { Placement } from "./placement.js"
import { placed } from "./placement.js"
import type { ServerSpec } from "./scenarios.js"

/** Runs a program to completion; `ok` is false when it failed or outlived `timeoutMs`. */
export const run = (file: string, args: ReadonlyArray<string>, cwd: string, timeoutMs: number) =>
  new Promise<{ ok: boolean; stdout: string; stderr: string }>((done) => {
    execFile(
      file,
      [...args],
      { cwd, timeout: timeoutMs },
      (error, stdout, stderr) => done({ ok: error === null, stdout, stderr: stderr || (error?.message ?? "") })
    )
  })

/** The first line of a program's output: the reason a failure reads in a table cell. */
export const firstLine = (text: string): string => text.trim().split("\n")[0] ?? ""

/** A port nobody holds right now (the kernel picks it; the server binds it right after). */
export const freePort = (protocol: "udp" | "tcp") =>
  new Promise<number>((done, fail) => {
    if (protocol === "udp") {
      const socket = dgram.createSocket("udp4")
      socket.on("error", fail)
      socket.bind(0, "127.0.0.1", () => {
        const { port } = socket.address()
        socket.close(() => done(port))
      })
    } else {
      const server = Net.createServer()
      server.on("error", fail)
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        server.close(() => done(port))
      })
    }
  })

/** A server that listens, as `start` hands it over. */
export interface Live {
  readonly child: ChildProcess
  readonly port: number
  /** The last lines the server wrote to stderr, for the reason of a failure. */
  readonly stderr: () => string
  /** Whether bench/net/heap-report.mjs is loaded into it (SIGUSR2 counts its allocation). */
  readonly heapReport: boolean
  /** The next line it prints on stdout that starts with `prefix`, or null after `timeoutMs`. */
  readonly nextLine: (prefix: string, timeoutMs: number) => Promise<string | null>
}

const running = new Set<ChildProcess>()
// Never leave a server behind, even when the bench throws.
process.on("exit", () => running.forEach((child) => child.kill("SIGKILL")))

/** Whether the process is gone (by exit or by signal). */
export const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/**
 * Spawns a server and waits for its "listening <port>" line (or gives the reason it failed).
 * The server is the spawned process itself (no shell in between; `taskset`, when pinned,
 * becomes the server), so `child.pid` is the pid whose CPU time is read; `heapReport` loads
 * bench/net/heap-report.mjs into a Node server.
 */
export const start = (
  root: string,
  spec: ServerSpec,
  port: number,
  heapReport: boolean,
  placement?: Placement
) =>
  new Promise<Live | string>((done) => {
    const [file, ...args] = spec.command(port)
    const node = file === "node"
    const preload = node && heapReport
      ? ["--import", pathToFileURL(join(root, "bench/net/heap-report.mjs")).href]
      : []
    const [program, programArgs] = placed(
      placement,
      "server",
      node ? process.execPath : join(root, file!),
      [...preload, ...args]
    )
    const child = spawn(program, programArgs, {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"]
    })
    running.add(child)
    const waiting = new Set<{ readonly prefix: string; readonly take: (line: string) => void }>()
    const nextLine = (prefix: string, timeoutMs: number) =>
      new Promise<string | null>((resolve) => {
        const waiter = {
          prefix,
          take: (line: string) => {
            clearTimeout(timer)
            waiting.delete(waiter)
            resolve(line)
          }
        }
        const timer = setTimeout(() => {
          waiting.delete(waiter)
          resolve(null)
        }, timeoutMs)
        waiting.add(waiter)
      })
    let stderr = ""
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000)
    })
    const tail = () => stderr.trim().split("\n").slice(-2).join(" / ")
    let settled = false
    const settle = (value: Live | string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (typeof value === "string") void stop(child)
      done(value)
    }
    // tsx compiles on first start; give it time, but not forever.
    const timer = setTimeout(() => settle("no \"listening\" line within 30 s"), 30_000)
    // Keep draining stdout after the line, so a chatty server cannot block on a full pipe.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const match = /^listening (\d+)/.exec(line.trim())
      if (match !== null) {
        settle({ child, port: Number(match[1]), stderr: tail, heapReport: preload.length > 0, nextLine })
      }
      for (const waiter of waiting) if (line.startsWith(waiter.prefix)) waiter.take(line)
    })
    child.on("error", (error) => settle(`spawn failed: ${error.message}`))
    child.on("exit", (code, signal) => {
      running.delete(child)
      settle(`exited (${signal ?? code}) before listening: ${tail()}`)
    })
  })

/** Stops a server: SIGTERM, then SIGKILL if it is still there 2 s later. */
export const stop = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (exited(child)) return done()
    const force = setTimeout(() => child.kill("SIGKILL"), 2_000)
    child.once("exit", () => {
      clearTimeout(force)
      done()
    })
    child.kill("SIGTERM")
  })
