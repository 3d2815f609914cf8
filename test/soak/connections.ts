/**
 * TCP cycles: 8 clients in turn connect, send a message of 1..4 KiB, read the echo back,
 * check every byte and close; the server accepts each connection into a scope of its own and
 * echoes until the client's end of stream. Every cycle's sockets, tokens and slots must be gone
 * once it closes.
 */
import { BufferPool, RegisteredIo, RegisteredSocket } from "@effect-rio/core"
import type { RioBuf } from "@effect-rio/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Phase, PhaseResult } from "./phase.js"

const CLIENTS = 8
const MAX_SIZE = 4096

const byteAt = (cycle: number, i: number): number => (cycle * 131 + i * 17) & 0xff

/** Echoes one accepted stream until its peer's end of stream, then shuts its own side. */
const echo = (pool: BufferPool.BufferPool, stream: RegisteredSocket.TcpStream) =>
  pool.withLease((lease) =>
    Effect.gen(function*() {
      for (;;) {
        const n = yield* stream.receive(lease.buf)
        if (n === 0) return yield* stream.shutdown()
        yield* stream.sendAll({ ...lease.buf, length: n })
      }
    })
  )

export const connections: Phase = {
  name: "TCP connect/echo/close cycles (8 clients)",
  target: 10_000,
  run: (target, deadline): Effect.Effect<PhaseResult, unknown, RegisteredIo.RegisteredIo> =>
    Effect.scoped(Effect.gen(function*() {
      const pool = yield* BufferPool.make({ slotSize: MAX_SIZE, slots: CLIENTS * 2 })
      const listener = yield* RegisteredSocket.listen({ port: 0 })
      yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        const connection = yield* Scope.make()
        const stream = yield* Scope.extend(listener.accept, connection)
        yield* Effect.forkScoped(Effect.ensuring(Effect.ignore(echo(pool, stream)), Scope.close(connection, Exit.void)))
      })))
      const client = yield* RegisteredIo.allocateBuffer(CLIENTS * 2 * MAX_SIZE)
      const problems: Array<string> = []
      let cycles = 0
      const cycle = (slot: number, id: number) =>
        Effect.scoped(Effect.gen(function*() {
          const size = 1 + (id * 7919) % MAX_SIZE
          const out = client.bytes.subarray(2 * slot * MAX_SIZE, 2 * slot * MAX_SIZE + size)
          for (let i = 0; i < size; i++) out[i] = byteAt(id, i)
          const back = (2 * slot + 1) * MAX_SIZE
          const stream = yield* RegisteredSocket.connect({ host: "127.0.0.1", port: listener.address.port })
          yield* stream.sendAll(client.unsafeSlice(2 * slot * MAX_SIZE, size) as RioBuf.RioBuf)
          yield* stream.shutdown("write")
          let got = 0
          for (;;) {
            const n = yield* stream.receive(client.unsafeSlice(back + got, MAX_SIZE - got) as RioBuf.RioBuf)
            if (n === 0) break
            got += n
            if (got === MAX_SIZE) break
          }
          if (got !== size) return problems.push(`cycle ${id}: ${got} bytes back of ${size}`)
          const echoed = client.bytes.subarray(back, back + size)
          for (let i = 0; i < size; i++) {
            if (echoed[i] !== byteAt(id, i)) return problems.push(`cycle ${id}: byte ${i} differs`)
          }
        }))
      const started = Date.now()
      yield* Effect.forEach(Array.from({ length: CLIENTS }, (_, slot) => slot), (slot) =>
        Effect.gen(function*() {
          while (cycles < target && Date.now() < deadline && problems.length === 0) {
            const result = yield* Effect.either(cycle(slot, cycles++))
            if (result._tag === "Left") problems.push(`cycle failed: ${(result.left as Error).message}`)
          }
        }), { concurrency: "unbounded", discard: true })
      const done = Math.min(cycles, target)
      if (client.inFlight !== 0) problems.push(`${client.inFlight} tokens still held by the clients`)
      return { done, seconds: (Date.now() - started) / 1000, problems, notes: [] }
    }))
}
