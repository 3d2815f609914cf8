/**
 * Socket options on every backend with sockets: each one read back from the kernel
 * (getsockopt; the double: as set), and where it changes behaviour, the behaviour — two
 * `reusePort` listeners on one port both accept, `ipv6Only` turns IPv4 peers away, a
 * broadcast needs `broadcast`, multicast datagrams reach the group's members. Bad values and
 * options a platform lacks are typed errors.
 */
import { RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Dgram from "node:dgram"
import { describeSocketBackends } from "./describeBackends.js"

const GROUP = "239.255.77.12"

/** A port nothing holds now, below the ephemeral range (20000–32000, as the other tests pick). */
const somePort = () => 20_000 + Math.floor(Math.random() * 12_000)

/** `count` datagrams of `text` from `socket` to `to`, from a registration of its own. */
const sendText = (socket: RegisteredSocket.UdpSocket, to: RegisteredSocket.SocketAddress, text: string) =>
  Effect.scoped(Effect.gen(function*() {
    const memory = yield* RegisteredIo.allocateBuffer(256)
    const bytes = new TextEncoder().encode(text)
    memory.bytes.set(bytes)
    return yield* socket.sendTo(memory.unsafeSlice(0, bytes.length) as RioBuf.RioBuf, to)
  }))

/** The next datagram's text, or "nothing" after `ms`. */
const receiveText = (socket: RegisteredSocket.UdpSocket, ms = 2000) =>
  Effect.scoped(Effect.gen(function*() {
    const memory = yield* RegisteredIo.allocateBuffer(256)
    const datagram = yield* socket.receiveFrom(memory.unsafeSlice(0, 256) as RioBuf.RioBuf)
    return new TextDecoder().decode(memory.bytes.subarray(0, datagram.length))
  })).pipe(Effect.timeoutTo({ duration: ms, onTimeout: () => "nothing", onSuccess: (text) => text }))

/** A node:dgram socket on `port` of every address, and the first datagram it gets. */
const nodeMember = (port: number, group?: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: Dgram.Socket; readonly first: Promise<string> }>((resume) => {
      const socket = Dgram.createSocket({ type: "udp4", reuseAddr: true })
      const first = new Promise<string>((arrived) => socket.once("message", (message) => arrived(message.toString())))
      socket.bind(port, () => {
        if (group !== undefined) socket.addMembership(group)
        resume(Effect.succeed({ socket, first }))
      })
    }),
    ({ socket }) => Effect.sync(() => socket.close())
  )

const within = <A>(promise: Promise<A>, ms = 2000) =>
  Effect.promise(() =>
    Promise.race([promise, new Promise<"nothing">((resolve) => setTimeout(() => resolve("nothing"), ms))])
  )

describeSocketBackends("socket options", (it) => {
  it.scoped("UDP: every option given is what the kernel reads back; defaults where none is", () =>
    Effect.gen(function*() {
      const plain = yield* RegisteredSocket.udp()
      assert.isFalse(yield* plain.option("broadcast"))
      assert.isTrue(yield* plain.option("multicastLoopback"))
      const io = yield* RegisteredIo.RegisteredIo
      if (io.backend === "winsock") {
        assert.strictEqual((yield* Effect.flip(plain.option("reusePort")))._tag, "WSAENOPROTOOPT")
      } else assert.isFalse(yield* plain.option("reusePort"))
      const udp = yield* RegisteredSocket.udp({
        receiveBufferSize: 65536,
        sendBufferSize: 32768,
        broadcast: true,
        ttl: 17,
        multicastTTL: 3,
        multicastLoopback: false,
        reuseAddress: true
      })
      // The kernel may round up or double a buffer size (Linux doubles it); never less.
      assert.isAtLeast(yield* udp.option("receiveBufferSize"), 65536)
      assert.isAtLeast(yield* udp.option("sendBufferSize"), 32768)
      assert.isTrue(yield* udp.option("broadcast"))
      assert.strictEqual(yield* udp.option("ttl"), 17)
      assert.strictEqual(yield* udp.option("multicastTTL"), 3)
      assert.isFalse(yield* udp.option("multicastLoopback"))
      assert.isTrue(yield* udp.option("reuseAddress"))
      const wrong = yield* Effect.flip(udp.option("noDelay"))
      assert.strictEqual(wrong._tag, "WSAENOPROTOOPT")
      const unknown = yield* Effect.flip(udp.option("colour" as "ttl"))
      assert.strictEqual(unknown._tag, "WSAEINVAL")
      // Changed while open, as node:dgram's setTTL / setBroadcast do.
      yield* udp.setOption("ttl", 33)
      yield* udp.setOption("broadcast", false)
      assert.strictEqual(yield* udp.option("ttl"), 33)
      assert.isFalse(yield* udp.option("broadcast"))
      assert.strictEqual((yield* Effect.flip(udp.setOption("ttl", 0)))._tag, "WSAEINVAL")
      assert.strictEqual((yield* Effect.flip(udp.setOption("reusePort", true)))._tag, "WSAEINVAL")
      assert.strictEqual((yield* Effect.flip(udp.setOption("noDelay", true)))._tag, "WSAENOPROTOOPT")
    }))

  it.scoped("TCP: a connected stream's and every accepted stream's options, and the listener's", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      // TCP_KEEPALIVE (the idle time) is Windows 10 1709's; Wine 8 answers WSAENOPROTOOPT for it,
      // so on winsock it is tried apart below.
      const delays: Pick<RegisteredSocket.ListenOptions, "keepAliveInitialDelay"> = io.backend === "winsock"
        ? {}
        : { keepAliveInitialDelay: "60 seconds" }
      const listener = yield* RegisteredSocket.listen({
        port: 0,
        noDelay: false,
        keepAlive: true,
        ...delays,
        receiveBufferSize: 49152
      })
      // Linux and the double reuse a listener's address by default, as Node's servers do;
      // Windows does not (its SO_REUSEADDR would let another socket take the port).
      assert.strictEqual(yield* listener.option("reuseAddress"), io.backend !== "winsock")
      assert.isAtLeast(yield* listener.option("receiveBufferSize"), 49152)
      const client = yield* RegisteredSocket.connect({
        host: "127.0.0.1",
        port: listener.address.port,
        keepAlive: true,
        sendBufferSize: 65536
      })
      const server = yield* listener.accept
      assert.isTrue(yield* client.option("noDelay"), "on by default: a slice is a message")
      assert.isTrue(yield* client.option("keepAlive"))
      assert.isAtLeast(yield* client.option("sendBufferSize"), 65536)
      assert.isFalse(yield* server.option("noDelay"))
      assert.isTrue(yield* server.option("keepAlive"))
      // An accepted stream starts with its listener's buffer sizes.
      assert.isAtLeast(yield* server.option("receiveBufferSize"), 49152)
      if (io.backend !== "winsock") assert.strictEqual(yield* server.option("keepAliveInitialDelay"), 60)
      const delayed = yield* Effect.either(RegisteredSocket.connect({
        host: "127.0.0.1",
        port: listener.address.port,
        keepAlive: true,
        keepAliveInitialDelay: "30 seconds"
      }))
      // A listener whose streams would get it fails at `listen`, not at every accept.
      const delayedListener = yield* Effect.either(
        RegisteredSocket.listen({ port: 0, keepAliveInitialDelay: 45 * 1000 })
      )
      if (delayed._tag === "Right" && delayedListener._tag === "Right") {
        assert.strictEqual(yield* delayed.right.option("keepAliveInitialDelay"), 30)
        assert.strictEqual(yield* delayedListener.right.option("keepAliveInitialDelay"), 45)
      } else {
        for (const refused of [delayed, delayedListener]) {
          if (refused._tag === "Right") return assert.fail("both or neither take keepAliveInitialDelay")
          assert.strictEqual(io.backend, "winsock", refused.left.message)
          assert.strictEqual(refused.left._tag, "WSAENOPROTOOPT")
          assert.include(refused.left.message, "keepAliveInitialDelay")
        }
      }
      const plain = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
      assert.isFalse(yield* plain.option("keepAlive"))
      // Changed while open, as node:net's setNoDelay / setKeepAlive do.
      yield* plain.setOption("noDelay", false)
      yield* plain.setOption("keepAlive", true)
      assert.isFalse(yield* plain.option("noDelay"))
      assert.isTrue(yield* plain.option("keepAlive"))
      assert.strictEqual((yield* Effect.flip(plain.setOption("keepAliveInitialDelay", 1.5)))._tag, "WSAEINVAL")
      assert.strictEqual((yield* Effect.flip(plain.option("broadcast")))._tag, "WSAENOPROTOOPT")
    }))

  it.scoped("IPv6 sockets take the IPv6 forms of the IP options (IPV6_UNICAST_HOPS, _MULTICAST_HOPS, _LOOP)", () =>
    Effect.gen(function*() {
      const udp = yield* RegisteredSocket.udp({ host: "::1", ttl: 9, multicastTTL: 4, multicastLoopback: false })
      assert.strictEqual(yield* udp.option("ttl"), 9)
      assert.strictEqual(yield* udp.option("multicastTTL"), 4)
      assert.isFalse(yield* udp.option("multicastLoopback"))
      yield* udp.setOption("ttl", 200)
      assert.strictEqual(yield* udp.option("ttl"), 200)
    }))

  it.effect("bad values are WSAEINVAL naming the option, before any socket is made", () =>
    Effect.gen(function*() {
      const refused = (
        open: Effect.Effect<unknown, { readonly _tag: string; readonly message: string }, RegisteredIo.RegisteredIo>
      ) => Effect.map(Effect.flip(open), (error) => `${error._tag}: ${error.message}`)
      const udp = (options: RegisteredSocket.UdpOptions) => refused(Effect.scoped(RegisteredSocket.udp(options)))
      const connect = (options: Partial<RegisteredSocket.ConnectOptions>) =>
        refused(Effect.scoped(RegisteredSocket.connect({ host: "127.0.0.1", port: 9, ...options })))
      assert.match(yield* udp({ ttl: 0 }), /^WSAEINVAL: ttl 0 is not an integer in 1\.\.255/)
      assert.match(yield* udp({ multicastTTL: 256 }), /^WSAEINVAL: multicastTTL 256/)
      assert.match(yield* udp({ receiveBufferSize: -1 }), /^WSAEINVAL: receiveBufferSize -1/)
      assert.match(yield* udp({ sendBufferSize: 1.5 }), /^WSAEINVAL: sendBufferSize 1\.5/)
      assert.match(
        yield* udp({ broadcast: "yes" as unknown as boolean }),
        /^WSAEINVAL: broadcast yes is not true or false/
      )
      assert.match(yield* connect({ keepAliveInitialDelay: "1500 millis" }), /^WSAEINVAL: keepAliveInitialDelay/)
      assert.match(yield* connect({ keepAliveInitialDelay: "0 seconds" }), /^WSAEINVAL: keepAliveInitialDelay/)
      assert.match(yield* connect({ noDelay: 1 as unknown as boolean }), /^WSAEINVAL: noDelay 1/)
    }))

  it.scoped("ipv6Only: a listener on \"::\" turns IPv4 peers away; without it, it takes both", () =>
    Effect.gen(function*() {
      const only = yield* RegisteredSocket.listen({ host: "::", port: 0, ipv6Only: true })
      assert.isTrue(yield* only.option("ipv6Only"))
      const refused = yield* Effect.flip(Effect.scoped(
        RegisteredSocket.connect({ host: "127.0.0.1", port: only.address.port })
      ))
      assert.strictEqual(refused._tag, "WSAECONNREFUSED")
      yield* RegisteredSocket.connect({ host: "::1", port: only.address.port })
      const both = yield* RegisteredSocket.listen({ host: "::", port: 0 })
      assert.isFalse(yield* both.option("ipv6Only"))
      yield* RegisteredSocket.connect({ host: "127.0.0.1", port: both.address.port })
      // On an IPv4 socket the option means nothing: it reads false.
      assert.isFalse(yield* (yield* RegisteredSocket.udp({ ipv6Only: true })).option("ipv6Only"))
    }))

  it.scoped("reusePort: two listeners on one port both accept (Windows: WSAENOPROTOOPT)", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      if (io.backend === "winsock") {
        const refused = yield* Effect.flip(RegisteredSocket.listen({ port: 0, reusePort: true }))
        assert.strictEqual(refused._tag, "WSAENOPROTOOPT")
        return
      }
      const first = yield* RegisteredSocket.listen({ port: 0, reusePort: true })
      const port = first.address.port
      const second = yield* RegisteredSocket.listen({ port, reusePort: true })
      assert.isTrue(yield* second.option("reusePort"))
      const taken = yield* Effect.flip(Effect.scoped(RegisteredSocket.listen({ port })))
      assert.strictEqual(taken._tag, "WSAEADDRINUSE", "a third socket without reusePort cannot join")
      const accepted = [0, 0]
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(first.accept, Effect.sync(() => accepted[0]!++))))
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(second.accept, Effect.sync(() => accepted[1]!++))))
      for (let i = 0; i < 32; i++) yield* RegisteredSocket.connect({ host: "127.0.0.1", port })
      for (let i = 0; i < 200 && accepted[0]! + accepted[1]! < 32; i++) yield* Effect.sleep("5 millis")
      assert.strictEqual(accepted[0]! + accepted[1]!, 32)
      assert.isTrue(accepted[0]! > 0 && accepted[1]! > 0, `spread ${accepted}`)
      // A member that closed takes no more: the one left accepts every connection.
      yield* Effect.scoped(Effect.gen(function*() {
        const staying = yield* RegisteredSocket.listen({ port: 0, reusePort: true })
        const at = staying.address.port
        yield* Effect.scoped(RegisteredSocket.listen({ port: at, reusePort: true }))
        for (let i = 0; i < 8; i++) {
          yield* Effect.scoped(RegisteredSocket.connect({ host: "127.0.0.1", port: at }))
          yield* Effect.scoped(staying.accept)
        }
      }))
    }))

  it.scoped("broadcast: refused without the option (WSAEACCES), delivered with it", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const port = somePort()
      const to = { host: "255.255.255.255", port }
      const silent = yield* RegisteredSocket.udp({ host: "0.0.0.0" })
      assert.strictEqual((yield* Effect.flip(sendText(silent, to, "not allowed")))._tag, "WSAEACCES")
      const sender = yield* RegisteredSocket.udp({ host: "0.0.0.0", broadcast: true })
      if (io.backend === "test") {
        const member = yield* RegisteredSocket.udp({ host: "0.0.0.0", port })
        yield* sendText(sender, to, "to everyone")
        assert.strictEqual(yield* receiveText(member), "to everyone")
      } else {
        const member = yield* nodeMember(port)
        yield* sendText(sender, to, "to everyone")
        assert.strictEqual(yield* within(member.first), "to everyone")
      }
    }))

  it.scoped("multicast: members of the group get what is sent to it, and membership errors are typed", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const port = somePort()
      const sender = yield* RegisteredSocket.udp({ host: "0.0.0.0", multicastTTL: 1 })
      // Ours as a member: node:dgram sends on a real kernel, our socket on the double.
      const ours = yield* RegisteredSocket.udp({ host: "0.0.0.0", port, reuseAddress: true })
      yield* ours.addMembership(GROUP)
      if (io.backend === "test") yield* sendText(sender, { host: GROUP, port }, "to the group")
      else {
        const nodeSender = Dgram.createSocket("udp4")
        yield* Effect.addFinalizer(() => Effect.sync(() => nodeSender.close()))
        nodeSender.send("to the group", port, GROUP)
      }
      assert.strictEqual(yield* receiveText(ours), "to the group")
      if (io.backend !== "test") {
        // node:dgram as a member of another group, ours as the sender.
        const otherPort = somePort()
        const member = yield* nodeMember(otherPort, "239.255.77.13")
        yield* sendText(sender, { host: "239.255.77.13", port: otherPort }, "from ours")
        assert.strictEqual(yield* within(member.first), "from ours")
      }
      assert.strictEqual((yield* Effect.flip(ours.addMembership("127.0.0.1")))._tag, "WSAEINVAL")
      assert.strictEqual((yield* Effect.flip(ours.addMembership(GROUP)))._tag, "WSAEADDRINUSE")
      assert.strictEqual((yield* Effect.flip(ours.addMembership("ff02::1"))).message.includes("family"), true)
      yield* ours.dropMembership(GROUP)
      assert.strictEqual((yield* Effect.flip(ours.dropMembership(GROUP)))._tag, "WSAEADDRNOTAVAIL")
    }))
})
