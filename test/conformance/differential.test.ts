/**
 * The differential test: random sequences of public operations — registrations, slices good
 * and bad, pool leases, UDP and TCP operations, shutdowns, interrupted receives — run on the
 * double and on every kernel backend that runs here, one after the other; each operation's
 * outcome (its error's tag, or what it returned, received bytes included) must be the same on
 * all of them. A difference shrinks to the shortest sequence that shows it.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { backends } from "./backends.js"
import { type Operation, operations } from "./differentialOperations.js"

/** What one operation did, in words that do not depend on the backend (no ports, no ids). */
type Outcome = string

const tagOf = (error: unknown): string => (error as { readonly _tag?: string })._tag ?? String(error)

/** Runs `effect`, giving up after `ms` (a receive with nothing to take). */
const within = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>, ms: number) =>
  Effect.scoped(Effect.timeoutOption(effect, `${ms} millis`))

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

/** The sequence's world on one backend: everything it opened lives in `scope`. */
const run = (sequence: ReadonlyArray<Operation>) =>
  Effect.gen(function*() {
    const registrations: Array<{ registration: RegisteredIo.Registration; scope: Scope.CloseableScope }> = []
    const slices: Array<RioBuf.RioBuf> = []
    const pool = yield* BufferPool.make({ slotSize: 64, slots: 2 })
    const leases: Array<{ lease: BufferPool.Lease; scope: Scope.CloseableScope }> = []
    const udp = [yield* RegisteredSocket.udp(), yield* RegisteredSocket.udp()]
    const listener = yield* RegisteredSocket.listen({ port: 0 })
    const client = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
    const tcp = [client, yield* listener.accept]
    // What each TCP end has to read: a receive with nothing coming would wait, and cancelling it
    // ends the stream on Winsock (RIO has no per-request cancel; see the README's table), so
    // such a receive is not made — it is recorded as what it is.
    const unread = [0, 0]
    const ended = [false, false]
    const which = (address: RegisteredSocket.SocketAddress) =>
      udp.findIndex((socket) => socket.address.port === address.port)
    const sliceAt = (index: number): RioBuf.RioBuf | undefined =>
      slices.length === 0 ? undefined : slices[index % slices.length]
    const bytesOf = (buf: RioBuf.RioBuf, length: number): Uint8Array | undefined => {
      const owner = registrations.find(({ registration }) => registration.id === buf.bufferId)?.registration
      return owner?.bytes.subarray(buf.offset, buf.offset + length)
    }
    const outcomes: Array<Outcome> = []
    const step = (operation: Operation): Effect.Effect<Outcome, never, RegisteredIo.RegisteredIo | Scope.Scope> => {
      switch (operation.op) {
        case "register":
          return Effect.gen(function*() {
            const scope = yield* Scope.make()
            const result = yield* Effect.either(Scope.extend(
              operation.allocate
                ? RegisteredIo.allocateBuffer(operation.length)
                : RegisteredIo.registerBuffer(new Uint8Array(Math.max(0, Math.min(operation.length, 4096))), {
                  length: operation.length
                }),
              scope
            ))
            if (result._tag === "Left") return tagOf(result.left)
            registrations.push({ registration: result.right, scope })
            return `registered ${result.right.byteLength}`
          })
        case "slice": {
          const owner = registrations[operation.registration % Math.max(1, registrations.length)]
          if (owner === undefined) return Effect.succeed("no registration")
          if (operation.literal) {
            slices.push(
              { bufferId: owner.registration.id, offset: operation.offset, length: operation.length } as never
            )
            return Effect.succeed("literal")
          }
          const made = owner.registration.unsafeSlice(operation.offset, operation.length)
          if (made instanceof Error) return Effect.succeed(made._tag)
          slices.push(made)
          return Effect.succeed("sliced")
        }
        case "fill": {
          const buf = sliceAt(operation.slice)
          const bytes = buf === undefined ? undefined : bytesOf(buf, buf.length)
          if (bytes === undefined || bytes.length !== buf!.length) return Effect.succeed("nothing to fill")
          for (let i = 0; i < bytes.length; i++) bytes[i] = (operation.seed + i * 13) & 0xff
          return Effect.succeed("filled")
        }
        case "release": {
          const owner = registrations[operation.registration % Math.max(1, registrations.length)]
          if (owner === undefined) return Effect.succeed("no registration")
          return Effect.as(Scope.close(owner.scope, Exit.void), "released")
        }
        case "lease":
          return Effect.gen(function*() {
            const scope = yield* Scope.make()
            const lease = yield* Scope.extend(pool.tryLease, scope)
            if (Option.isNone(lease)) return "no slot"
            leases.push({ lease: lease.value, scope })
            slices.push(lease.value.buf)
            return "leased"
          }).pipe(Effect.catchAll((error) => Effect.succeed(tagOf(error))))
        case "returnLease": {
          const held = leases.shift()
          if (held === undefined) return Effect.succeed("no lease")
          return Effect.as(Scope.close(held.scope, Exit.void), "returned")
        }
        case "sendTo": {
          const buf = sliceAt(operation.slice)
          if (buf === undefined) return Effect.succeed("no slice")
          const to = operation.portZero ? { host: "127.0.0.1", port: 0 } : udp[operation.to]!.address
          return Effect.match(udp[operation.from]!.sendTo(buf, to), { onFailure: tagOf, onSuccess: (n) => `sent ${n}` })
        }
        case "receiveFrom": {
          const buf = sliceAt(operation.slice)
          if (buf === undefined) return Effect.succeed("no slice")
          const socket = udp[operation.at]!
          return Effect.match(within(socket.receiveFrom(buf), 100), {
            onFailure: tagOf,
            onSuccess: Option.match({
              onNone: () => "nothing arrived",
              onSome: ({ address, length }) =>
                `from ${which(address)}: ${hex(bytesOf(buf, length) ?? new Uint8Array())}`
            })
          })
        }
        case "interruptReceive": {
          const buf = sliceAt(operation.slice)
          if (buf === undefined) return Effect.succeed("no slice")
          return Effect.gen(function*() {
            const fiber = yield* Effect.fork(udp[operation.at]!.receiveFrom(buf))
            yield* Effect.sleep("5 millis")
            const exit = yield* Fiber.interrupt(fiber)
            return Exit.isSuccess(exit)
              ? `received ${exit.value.length}`
              : Exit.isInterrupted(exit)
              ? "interrupted"
              : "failed"
          })
        }
        case "send": {
          const buf = sliceAt(operation.slice)
          if (buf === undefined) return Effect.succeed("no slice")
          return Effect.match(tcp[operation.end]!.sendAll(buf), {
            onFailure: tagOf,
            onSuccess: () => {
              unread[1 - operation.end] += buf.length
              return "sent all"
            }
          })
        }
        case "receive": {
          const buf = sliceAt(operation.slice)
          if (buf === undefined) return Effect.succeed("no slice")
          if (unread[operation.end] === 0 && !ended[operation.end]) return Effect.succeed("would wait")
          return Effect.match(within(tcp[operation.end]!.receive(buf), 1000), {
            onFailure: tagOf,
            onSuccess: Option.match({
              onNone: () => "nothing arrived",
              onSome: (n) => {
                unread[operation.end] = Math.max(0, unread[operation.end]! - n)
                return `received ${hex(bytesOf(buf, n) ?? new Uint8Array())}`
              }
            })
          })
        }
        case "shutdown":
          return Effect.match(tcp[operation.end]!.shutdown(operation.how), {
            onFailure: tagOf,
            onSuccess: () => {
              // The peer reads an end of stream; this end's own receives end at once.
              if (operation.how !== "read") ended[1 - operation.end] = true
              if (operation.how !== "write") ended[operation.end] = true
              return "shut"
            }
          })
      }
    }
    // Leases and registrations have scopes of their own (a step may end them): close what is
    // left before the pool and the sockets go.
    const closeRest = () =>
      Effect.forEach(
        [...leases.map(({ scope }) => scope), ...registrations.map(({ scope }) => scope)],
        (scope) => Scope.close(scope, Exit.void),
        { discard: true }
      )
    yield* Effect.ensuring(
      Effect.forEach(sequence, (operation) =>
        Effect.gen(function*() {
          outcomes.push(yield* step(operation))
          // What the kernel has in flight settles before the next step looks (loopback).
          yield* Effect.sleep("1 millis")
        }), { discard: true }),
      Effect.suspend(closeRest)
    )
    return outcomes
  }).pipe(Effect.scoped)

const kernels = backends.filter((backend) => backend.skip === undefined && backend.sockets !== undefined)
const [reference, ...others] = kernels
const skip = reference === undefined || others.length === 0
  ? "fewer than two backends with sockets run here"
  : undefined
const title = "the same sequence of operations has the same outcomes on every backend"

describe("differential: double and kernels", () => {
  it.live.skipIf(skip !== undefined)(
    skip === undefined
      ? `${title}: ${kernels.map((backend) => backend.name).join(" / ")}`
      : `${title} — skipped: ${skip}`,
    () =>
      Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(operations, async (sequence) => {
            const expected = await Effect.runPromise(Effect.provide(run(sequence), reference!.layer))
            for (const backend of others) {
              const got = await Effect.runPromise(Effect.provide(run(sequence), backend.layer))
              // Both lists in full, step by step, so that a difference reads at a glance.
              assert.deepStrictEqual(
                got,
                expected,
                `${backend.name} against ${reference!.name}:\n` +
                  sequence.map((operation, i) =>
                    `${JSON.stringify(operation)} → ${got[i]}${got[i] === expected[i] ? "" : ` ≠ ${expected[i]}`}`
                  ).join("\n")
              )
            }
          }),
          // More when hunting: DIFFERENTIAL_RUNS=1000 npx vitest run test/conformance/differential.test.ts
          { numRuns: Number(process.env.DIFFERENTIAL_RUNS ?? 40) }
        )
      ),
    120_000
  )
})
