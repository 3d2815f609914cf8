/**
 * `connect` by name and with a timeout, on every backend with sockets: names through the system
 * resolver or the caller's `lookup`, each address tried in turn, a name that does not resolve
 * typed, and a connect that takes too long cancelled with nothing left behind.
 */
import { RegisteredIo, RegisteredSocket, RioError } from "@effect-rio/core"
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { describeSocketBackends } from "./describeBackends.js"
import { settledFds } from "./processState.js"

/** A port where nothing listens: one a listener had, closed again. */
const closedPort = Effect.scoped(Effect.map(RegisteredSocket.listen({ port: 0 }), (listener) => listener.address.port))

describeSocketBackends("connect by name, with a timeout", (it, backend) => {
  it.scoped("\"localhost\" goes through the system resolver and connects", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ host: "127.0.0.1", port: 0 })
      const client = yield* RegisteredSocket.connect({ host: "localhost", port: listener.address.port })
      const server = yield* listener.accept
      assert.strictEqual(server.remoteAddress.port, client.localAddress.port)
    }))

  it.scoped("each address in turn: a refused first address, then the one that listens (IPv6)", () =>
    Effect.gen(function*() {
      const listener = yield* RegisteredSocket.listen({ host: "::1", port: 0 })
      const asked: Array<string> = []
      const client = yield* RegisteredSocket.connect({
        host: "service.test",
        port: listener.address.port,
        lookup: (host) => Effect.sync(() => (asked.push(host), ["127.0.0.1", "::1"]))
      })
      assert.deepStrictEqual(asked, ["service.test"])
      assert.strictEqual(client.remoteAddress.host, "::1")
      // Every address refused: the last one's error.
      const port = yield* closedPort
      const refused = yield* Effect.flip(RegisteredSocket.connect({
        host: "nowhere.test",
        port,
        lookup: () => Effect.succeed(["127.0.0.1", "127.0.0.1"])
      }))
      assert.strictEqual(refused._tag, "WSAECONNREFUSED")
    }))

  it.effect("a name that does not resolve is WSAHOST_NOT_FOUND naming it; so is a lookup's bad answer", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Effect.scoped(
        RegisteredSocket.connect({ host: "no-such-host.invalid", port: 80 })
      ))
      assert.strictEqual(missing._tag, "WSAHOST_NOT_FOUND")
      assert.strictEqual(missing.code, 11001)
      assert.include(missing.message, "\"no-such-host.invalid\"")
      for (const answer of [["not an address"], []]) {
        const bad = yield* Effect.flip(Effect.scoped(
          RegisteredSocket.connect({ host: "x.test", port: 80, lookup: () => Effect.succeed(answer) })
        ))
        assert.strictEqual(bad._tag, "WSAHOST_NOT_FOUND")
      }
      const bind = yield* Effect.flip(Effect.scoped(RegisteredSocket.udp({ host: "no-such-host.invalid" })))
      assert.strictEqual(bind._tag, "WSAHOST_NOT_FOUND")
      const badTimeout = yield* Effect.flip(Effect.scoped(
        RegisteredSocket.connect({ host: "127.0.0.1", port: 80, timeout: "soon" as never })
      ))
      assert.strictEqual(badTimeout._tag, "WSAEINVAL")
    }))

  it.effect("a timeout covers the lookup too: WSAETIMEDOUT, nothing left behind", () =>
    Effect.gen(function*() {
      const io = yield* RegisteredIo.RegisteredIo
      const before = yield* io.stats
      const error = yield* Effect.flip(Effect.scoped(RegisteredSocket.connect({
        host: "slow.test",
        port: 80,
        timeout: "50 millis",
        lookup: () => Effect.never
      })))
      assert.instanceOf(error, RioError.WSAETIMEDOUT)
      assert.include(error.message, "within 50ms")
      assert.deepStrictEqual(yield* io.stats, before)
    }))

  const backlogCase = "a listener whose backlog is full: connect({ timeout }) cancels the attempt, its socket closed"
  it.scoped.skipIf(backend.sockets?.fullBacklogRefuses !== undefined)(
    backend.sockets?.fullBacklogRefuses === undefined
      ? backlogCase
      : `${backlogCase} — skipped: ${backend.sockets.fullBacklogRefuses}`,
    () =>
      Effect.gen(function*() {
        const listener = yield* RegisteredSocket.listen({ port: 0, backlog: 1 })
        const port = listener.address.port
        // Fill the accept queue (never accepted) until a connect waits.
        const connections = yield* Scope.make()
        let waited = false
        for (let i = 0; i < 16 && !waited; i++) {
          const attempt = yield* Effect.either(Scope.extend(
            RegisteredSocket.connect({ host: "127.0.0.1", port, timeout: "300 millis" }),
            connections
          ))
          if (attempt._tag === "Left") {
            assert.strictEqual(attempt.left._tag, "WSAETIMEDOUT")
            waited = true
          }
        }
        assert.isTrue(waited, "a connect to a full backlog waited")
        const fds = yield* settledFds
        const error = yield* Effect.flip(Effect.scoped(
          RegisteredSocket.connect({ host: "127.0.0.1", port, timeout: "100 millis" })
        ))
        assert.strictEqual(error._tag, "WSAETIMEDOUT")
        assert.strictEqual(yield* settledFds, fds, "the cancelled attempt's socket is closed")
      })
  )
})
