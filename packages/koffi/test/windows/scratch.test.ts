import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
describe("scratch", () => {
  it.effect("works", () => Effect.sync(() => assert.strictEqual(process.platform, "win32")))
})
