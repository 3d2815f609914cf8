/**
 * The conformance suite's backends on Windows Node, substituted for `./backends.js` by
 * test/wine/vitest.config.ts (used under Wine by test/wine/run.sh and on a real Windows
 * runner by .github/workflows/windows.yml):
 *
 * - the project's own list (test/conformance/backends.ts);
 * - the Winsock driver on the system's RIO (WSAIoctl);
 * - the Winsock driver over the reference RIO provider (test/wine/rio_reference.c), through
 *   the driver's ABI-test seam.
 *
 * Under Wine, entries that cannot start (the system RIO — Wine answers WSAEOPNOTSUPP — or
 * another platform's backend) are reported and left out; on real Windows every entry must
 * start, so a failure there fails the suite.
 */
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import * as WindowsDriver from "@effect-rio/koffi/internal/windows/driver"
import * as Winsock from "@effect-rio/koffi/internal/windows/winsock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { fileURLToPath } from "node:url"
import type { Backend } from "../conformance/backends.js"
import { backends as upstream } from "../conformance/backends.js"

const provider = process.env.EFFECT_RIO_WINDOWS_PROVIDER ??
  fileURLToPath(new URL("./build/rio_reference.dll", import.meta.url))

const winsock = (name: string, options?: WindowsDriver.Options): Backend => ({
  name,
  layer: Layer.scoped(RegisteredIo.RegisteredIo, Effect.flatMap(WindowsDriver.make(options), RegisteredIo.fromDriver))
})

const candidates: ReadonlyArray<Backend> = [...upstream, winsock("winsock (system RIO)")]

const startable = async (backend: Backend): Promise<ReadonlyArray<Backend>> => {
  const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(backend.layer)))
  if (Exit.isSuccess(exit)) return [backend]
  console.warn(`[wine] conformance backend "${backend.name}" cannot start under Wine and is skipped`)
  return []
}

const usable = Winsock.isWine() ? (await Promise.all(candidates.map(startable))).flat() : candidates

export const backends: ReadonlyArray<Backend> = [...usable, winsock("winsock (reference RIO provider)", { provider })]
