// node:net echo server for bench/net: `node bench/net/net-echo.mjs <port>`.
// pipe() gives back-pressure for the bulk case; noDelay so ping-pong does not wait on Nagle.
import net from "node:net"

const port = Number(process.argv[2] ?? 0)
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on("error", () => socket.destroy())
  socket.pipe(socket)
})
server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`))
