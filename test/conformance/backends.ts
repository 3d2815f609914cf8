import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RioError from "@effect-rio/core/RioError"
import { RioTest } from "@effect-rio/testing"
import type * as Layer from "effect/Layer"

/** A backend under test: the conformance suite runs once per entry. */
export interface Backend {
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable>
}

export const backends: ReadonlyArray<Backend> = [
  { name: "RioTest", layer: RioTest.layer() }
]
