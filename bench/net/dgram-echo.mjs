// node:dgram echo server for bench/net: `node bench/net/dgram-echo.mjs <port>`.
// The plain, idiomatic version a Node user would write; prints "listening <port>" when bound.
import dgram from "node:dgram"

const port = Number(process.argv[2] ?? 0)
const socket = dgram.createSocket("udp4")
socket.on("message", (message, peer) => socket.send(message, peer.port, peer.address))
socket.on("error", (error) => {
  console.error(error)
  process.exit(1)
})
socket.bind(port, "127.0.0.1", () => console.log(`listening ${socket.address().port}`))
