/**
 * A small service built on registered I/O, and the way to test it: `Checksummer` stages
 * a message in a registered buffer (as a send path would) and returns its checksum.
 * `test/Checksummer.test.ts` swaps in `RioTest.layer` and injects a fault.
 */
import { RegisteredIo } from "@effect-rio/core"
import type { RioError } from "@effect-rio/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export class Checksummer extends Context.Tag("examples/Checksummer")<Checksummer, {
  /** Stages `message` in a registered buffer and sums its bytes. */
  readonly stage: (message: Uint8Array) => Effect.Effect<number, RioError.RegisterError>
}>() {}

export const layer: Layer.Layer<Checksummer, never, RegisteredIo.RegisteredIo> = Layer.effect(
  Checksummer,
  Effect.map(RegisteredIo.RegisteredIo, (io) => ({
    stage: (message: Uint8Array) =>
      RegisteredIo.withBuffer(
        message,
        (registration) =>
          Effect.map(registration.slice(0, registration.byteLength), (slice) => {
            let sum = 0
            for (let i = slice.offset; i < slice.offset + slice.length; i++) sum = (sum + registration.bytes[i]!) >>> 0
            return sum
          })
      ).pipe(
        // A transient shortage of locked memory deserves one more try; other errors do not.
        Effect.retry({ times: 1, while: (error) => error._tag === "WSAENOBUFS" }),
        Effect.provideService(RegisteredIo.RegisteredIo, io)
      )
  }))
)
