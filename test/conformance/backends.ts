import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RioError from "@effect-rio/core/RioError"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import type * as Layer from "effect/Layer"

/** A backend under test: the conformance suite runs once per entry. */
export interface Backend {
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable>
}

/**
 * The test double always; the real backend of the platform where there is one. Under
 * Wine the Windows entries come from `test/wine/backends.ts` instead.
 */
export const backends: ReadonlyArray<Backend> = [
  { name: "RioTest", layer: RioTest.layer() },
  ...(process.platform === "linux" ? [{ name: "KoffiRio.layerLinux (io_uring)", layer: KoffiRio.layerLinux() }] : [])
]
