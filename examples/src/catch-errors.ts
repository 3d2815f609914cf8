/**
 * Registering buffers and handling the Winsock errors by name with `Effect.catchTag`.
 *
 *   npx -y pnpm@10 -C examples exec tsx src/catch-errors.ts
 */
import { RegisteredIo } from "@effect-rio/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { runMain } from "./main.js"

/** Registers `data` and reports what happened instead of failing. */
const tryRegister = (label: string, data: Uint8Array | ArrayBuffer, length?: number) =>
  Effect.scoped(
    Effect.gen(function*() {
      const registration = yield* RegisteredIo.registerBuffer(data, length)
      return `${label}: registered ${registration.byteLength} bytes as buffer id ${registration.id}`
    })
  ).pipe(
    Effect.catchTag("WSAEINVAL", (error) => Effect.succeed(`${label}: WSAEINVAL (${error.code}) ${error.message}`)),
    Effect.catchTag("WSAEFAULT", (error) => Effect.succeed(`${label}: WSAEFAULT (${error.code}) ${error.message}`)),
    Effect.catchTag("WSAENOBUFS", (error) => Effect.succeed(`${label}: WSAENOBUFS (${error.code}) ${error.message}`)),
    Effect.flatMap(Console.log)
  )

const detached = (): ArrayBuffer => {
  const buffer = new ArrayBuffer(4096)
  structuredClone(buffer, { transfer: [buffer] })
  return buffer
}

export const program = Effect.gen(function*() {
  yield* tryRegister("4 KiB buffer", new Uint8Array(4096))
  yield* tryRegister("zero length", new Uint8Array(4096), 0)
  yield* tryRegister("length past the end", new Uint8Array(16), 17)
  yield* tryRegister("detached ArrayBuffer", detached())
  yield* tryRegister("fractional length", new Uint8Array(16), 1.5)
  yield* Effect.scoped(
    Effect.gen(function*() {
      const registration = yield* RegisteredIo.registerBuffer(new Uint8Array(1024))
      const slice = yield* registration.slice(1000, 100).pipe(
        Effect.catchTag("WSAEINVAL", (error) => Console.log(`out-of-range slice: ${error.message}`))
      )
      if (slice === undefined) yield* Console.log("(no RIO_BUF was made: slices are never clamped)")
    })
  )
})

if (import.meta.url === `file://${process.argv[1]}`) runMain(program)
