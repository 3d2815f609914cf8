import { RegisteredIo } from "@effect-rio/core"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { makeCustomDriver } from "./conformance/customDriver.js"

const backendWith = (value: string | undefined) =>
  Effect.flatMap(RegisteredIo.RegisteredIo, (io) => Effect.succeed(io.backend)).pipe(
    Effect.provide(KoffiRio.layerConfig({ test: RioTest.layer() })),
    Effect.withConfigProvider(
      ConfigProvider.fromMap(new Map(value === undefined ? [] : [["EFFECT_RIO_BACKEND", value]]))
    )
  )

describe("KoffiRio.layerConfig", () => {
  it.effect("EFFECT_RIO_BACKEND names the platform's backend (the default) or an alternative passed in", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* backendWith("test"), "test")
      if (process.platform === "linux") {
        assert.strictEqual(yield* backendWith(undefined), "io_uring")
        assert.strictEqual(yield* backendWith("koffi"), "io_uring")
      }
    }))

  it.effect("an empty or blank EFFECT_RIO_BACKEND means the default, as an unset one does", () =>
    Effect.gen(function*() {
      const unset = yield* Effect.either(backendWith(undefined))
      assert.deepStrictEqual(yield* Effect.either(backendWith("")), unset)
      assert.deepStrictEqual(yield* Effect.either(backendWith("  ")), unset)
      if (process.platform === "linux") assert.deepStrictEqual(unset, Either.right("io_uring"))
    }))

  it.effect("any other value is a ConfigError that names the choices", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(backendWith("tset"))
      assert.isTrue(ConfigError.isConfigError(error) && ConfigError.isInvalidData(error))
      assert.include(String(error), "\"koffi\", \"test\"")
      assert.include(String(error), "tset")
    }))

  it.effect("an alternative is any layer of the service, for example a driver of your own", () =>
    Effect.gen(function*() {
      const layer = KoffiRio.layerConfig({
        mine: Layer.succeed(RegisteredIo.RegisteredIo, RegisteredIo.make(makeCustomDriver()))
      })
      const backend = yield* Effect.map(RegisteredIo.RegisteredIo, (io) => io.backend).pipe(
        Effect.provide(layer),
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EFFECT_RIO_BACKEND", "mine"]])))
      )
      assert.strictEqual(backend, "custom")
    }))
})
