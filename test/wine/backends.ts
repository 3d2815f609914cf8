/**
 * The conformance suite's backends under Windows Node in Wine: the project's own list
 * (test/conformance/backends.ts) minus entries that cannot start here, plus the Winsock
 * driver over the reference RIO provider. Substituted for `./backends.js` by
 * test/wine/vitest.config.ts.
 */
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as WindowsDriver from "@effect-rio/koffi/internal/windows/driver"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { fileURLToPath } from "node:url"
import type { Backend } from "../conformance/backends.js"
import { backends as upstream } from "../conformance/backends.js"

const provider = process.env.EFFECT_RIO_WINDOWS_PROVIDER ??
  fileURLToPath(new URL("./build/rio_reference.dll", import.meta.url))

const winsockReference: Backend = {
  name: "winsock (reference RIO provider, Windows Node under Wine)",
  layer: Layer.scoped(
    RegisteredIo.RegisteredIo,
    Effect.flatMap(WindowsDriver.make({ provider }), RegisteredIo.fromDriver)
  )
}

// A backend that needs another platform (io_uring, or Winsock's own RIO, which Wine lacks)
// fails to build with RioUnavailable: it is reported and left out rather than failing the run.
const startable = await Promise.all(
  upstream.map(async (backend) => {
    const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(backend.layer)))
    if (Exit.isSuccess(exit)) return [backend]
    console.warn(`[wine] conformance backend "${backend.name}" is unavailable here and is skipped`)
    return []
  })
)

export const backends: ReadonlyArray<Backend> = [...startable.flat(), winsockReference]
