/**
 * bench/net: the light rpc load generator, `rpc-wire-load.mjs <port> <concurrency> <seconds>`.
 * It speaks `@effect/rpc`'s wire protocol itself — `RpcSerialization.msgPack`'s own encoder and
 * decoder over one `node:net` connection, no client runtime — so that it costs far less per
 * call than the server it drives and the figure is the server's, not the client's (the
 * `@effect/rpc` client in rpc-load.ts needs about as much CPU per call as the server, so the
 * machine's second core, not the server, sets that row's rate). It keeps `concurrency` unary
 * `Echo` calls of the example's API in flight, checks every answer (a success with the text
 * sent), answers each batch of replies with one write, and measures `seconds` after 0.5 s of
 * warm-up. Prints one JSON line, like loadgen: `{"requests":…,"seconds":…,"rate":…,"errors":…}`.
 */
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as Net from "node:net"

const [port, concurrency, seconds] = process.argv.slice(2).map(Number)
if (!(port! > 0 && concurrency! > 0 && seconds! > 0)) {
  console.error("usage: rpc-wire-load.mjs <port> <concurrency> <seconds>")
  process.exit(2)
}

const WARM_UP_MS = 500

const parser = RpcSerialization.msgPack.unsafeMake()
let phase: "warm-up" | "measured" | "done" = "warm-up"
let requests = 0
let errors = 0
let next = 0
let started = 0

/** What each request in flight asked to be echoed, by its id. */
const sent = new Map<string, string>()

const request = (): Uint8Array => {
  const id = String(next++)
  const text = `request ${id}`
  sent.set(id, text)
  return parser.encode({ _tag: "Request", id, tag: "Echo", payload: { text }, headers: [] }) as Uint8Array
}

interface Exit {
  readonly _tag: string
  readonly requestId?: string
  readonly exit?: { readonly _tag: string; readonly value?: unknown }
}

const socket = Net.connect({ host: "127.0.0.1", port: port! })
socket.setNoDelay(true)
socket.on("connect", () => {
  socket.write(Buffer.concat(Array.from({ length: concurrency! }, request)))
  setTimeout(() => {
    phase = "measured"
    started = performance.now()
    setTimeout(finish, seconds! * 1000)
  }, WARM_UP_MS)
})
socket.on("data", (chunk) => {
  const replies: Array<Uint8Array> = []
  for (const message of parser.decode(chunk) as ReadonlyArray<Exit>) {
    if (message._tag !== "Exit") continue
    const expected = sent.get(message.requestId!)
    sent.delete(message.requestId!)
    const ok = expected !== undefined && message.exit?._tag === "Success" && message.exit.value === expected
    if (phase === "measured") {
      if (ok) requests++
      else errors++
    }
    if (phase !== "done") replies.push(request())
  }
  if (replies.length > 0) socket.write(replies.length === 1 ? replies[0]! : Buffer.concat(replies))
})
socket.on("error", (error) => {
  console.error(`rpc-wire-load: ${error.message}`)
  process.exit(1)
})

function finish() {
  phase = "done"
  const measured = (performance.now() - started) / 1000
  console.log(JSON.stringify({
    requests,
    seconds: Number(measured.toFixed(3)),
    rate: Number((requests / measured).toFixed(1)),
    errors
  }))
  socket.destroy()
}
