/**
 * The core's receive ring on its own, fed as a driver would feed it: what callers take, in
 * what order, and which slots go back to the kernel.
 */
import * as RioError from "@effect-rio/core/RioError"
import { assert, describe, it } from "@effect/vitest"
import { SocketMetrics } from "../src/internal/observability.js"
import { ReceiveRing } from "../src/internal/receiveRing.js"
import type { RegistrationImpl } from "../src/internal/registration.js"

/** Just what the ring uses of a registration, counting the tokens its batches hold. */
const makeRegistration = () => ({
  id: 0,
  bytes: new Uint8Array(4 * 16),
  base: 0,
  tokens: 0,
  unsafeAcquireToken() {
    this.tokens++
    return undefined
  },
  unsafeReleaseToken() {
    this.tokens--
    return true
  }
})
const peer = Object.freeze({ host: "127.0.0.1", port: 9 })
const reset = () => new RioError.WSAECONNRESET({ operation: "receiveMany", message: "reset" })

const ringOf = (slots: number) => {
  const registration = makeRegistration()
  const ring = new ReceiveRing(
    registration as unknown as RegistrationImpl,
    16,
    slots,
    new SocketMetrics("unit", "udp", false)
  )
  const recycled: Array<number> = []
  ring.attach({ mechanism: "test", recycle: (slot) => recycled.push(slot), close: (done) => done() })
  return { registration, ring, recycled }
}

const tags = (taken: ReturnType<ReceiveRing["takeNow"]>) =>
  taken === undefined ? "nothing" : taken instanceof Error ? taken._tag : taken.map((d) => d.bytes.byteOffset / 16)

describe("ReceiveRing", () => {
  it("keeps arrival order: datagrams before an error come first, the error in its turn, then the rest", () => {
    const { recycled, ring } = ringOf(4)
    ring.deliver(0, 0, 3, peer)
    ring.fail(1, new RioError.WSAEMSGSIZE({ operation: "receiveMany", message: "too large" }))
    ring.deliver(2, 0, 5, peer)
    assert.deepStrictEqual(tags(ring.takeNow(64)), [0])
    assert.deepStrictEqual(tags(ring.takeNow(64)), "WSAEMSGSIZE")
    assert.deepStrictEqual(recycled, [1], "the too-large datagram's slot goes back once its error is taken")
    assert.deepStrictEqual(tags(ring.takeNow(64)), [2])
    assert.strictEqual(tags(ring.takeNow(64)), "nothing")
  })

  it("a storm of failures without a slot never overwrites a datagram or hands a slot out twice", () => {
    const { recycled, registration, ring } = ringOf(2)
    for (let i = 0; i < 10; i++) ring.fail(-1, reset())
    ring.deliver(0, 0, 1, peer)
    ring.deliver(1, 0, 1, peer)
    const taken: Array<unknown> = []
    for (let next = ring.takeNow(64); next !== undefined; next = ring.takeNow(64)) {
      taken.push(tags(next))
      if (!(next instanceof Error)) ring.giveBack(next)
    }
    assert.deepStrictEqual(taken, ["WSAECONNRESET", "WSAECONNRESET", [0, 1]])
    assert.deepStrictEqual(recycled, [0, 1])
    assert.strictEqual(registration.tokens, 0, "the batch's token came back with it")
  })

  it("after the kernel side ended, what was ready is still taken, then every call gets the error", () => {
    const { ring } = ringOf(2)
    ring.deliver(0, 0, 1, peer)
    ring.end(reset())
    assert.isTrue(ring.hasNews)
    assert.deepStrictEqual(tags(ring.takeNow(64)), [0])
    assert.strictEqual(tags(ring.takeNow(64)), "WSAECONNRESET")
    assert.strictEqual(tags(ring.takeNow(64)), "WSAECONNRESET")
  })
})
