/**
 * The multi-core example as a user runs it, on io_uring: two worker processes on one port
 * (`reusePort`), both serving, every echo checked, and nothing left on the port after Ctrl-C.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"

const example = fileURLToPath(new URL("../src/cluster.ts", import.meta.url))

/** Sends `text` on a new connection, ends it, and resolves with all that came back. */
const echoOverTcp = (port: number, text: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1", () => socket.end(text))
    let echoed = ""
    socket.on("data", (data) => (echoed += data.toString()))
    socket.on("error", reject)
    socket.on("close", () => resolve(echoed))
  })

/** Sends `text` from a socket of its own and resolves with the reply. */
const echoOverUdp = (port: number, text: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = Dgram.createSocket("udp4")
    const timer = setTimeout(() => reject(new Error(`no echo of "${text}"`)), 2000)
    socket.once("message", (message) => {
      clearTimeout(timer)
      socket.close()
      resolve(message.toString())
    })
    socket.send(text, port, "127.0.0.1")
  })

/** Whether a node:net server can listen on `port` now (nothing else holds it). */
const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = Net.createServer()
    probe.once("error", () => resolve(false))
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)))
  })

describe("cluster example", () => {
  it.runIf(process.platform === "linux")(
    "two workers on one port both accept, every TCP and UDP echo is intact, Ctrl-C frees the port",
    async () => {
      const primary = spawn(process.execPath, ["--import", "tsx", example, "--workers", "2", "--port", "0"], {
        env: { ...process.env, EFFECT_RIO_BACKEND: "koffi" }
      })
      let output = ""
      primary.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
      primary.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => primary.on("exit", resolve))
      try {
        const port = await new Promise<number>((resolve, reject) => {
          primary.stdout.on("data", () => {
            const match = /listening (\d+) with 2 workers/.exec(output)
            if (match !== null) resolve(Number(match[1]))
          })
          primary.on("exit", (code) => reject(new Error(`exited with ${code}: ${output}`)))
        })
        for (let i = 0; i < 40; i++) {
          const text = `line ${i} `.repeat(1 + (i % 7)) + "\n"
          assert.strictEqual(await echoOverTcp(port, text), text)
        }
        for (let i = 0; i < 20; i++) assert.strictEqual(await echoOverUdp(port, `datagram ${i}`), `datagram ${i}`)
        const accepted = [0, 1].map((index) => output.split(`worker ${index} accepted`).length - 1)
        assert.strictEqual(accepted[0]! + accepted[1]!, 40, output)
        assert.isTrue(accepted[0]! > 0 && accepted[1]! > 0, `the kernel spread 40 connections as ${accepted}`)
        primary.kill("SIGINT")
        await exited
        let free = false
        for (let i = 0; i < 50 && !free; i++) {
          free = await portIsFree(port)
          if (!free) await new Promise((resolve) => setTimeout(resolve, 100))
        }
        assert.isTrue(free, "every worker has let go of the port")
      } finally {
        primary.kill("SIGKILL")
      }
    },
    60_000
  )
})
