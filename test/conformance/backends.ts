import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RioError from "@effect-rio/core/RioError"
import { KoffiRio } from "@effect-rio/koffi"
import { RioTest } from "@effect-rio/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { makeCustomDriver } from "./customDriver.js"

/** A backend under test: the conformance suite runs once per entry. */
export interface Backend {
  readonly name: string
  readonly layer: Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable>
  /** Why this backend cannot run here; its suite is then reported as skipped with the reason. */
  readonly skip?: string
  /** For a backend with sockets: the same backend with a completion queue of `size` entries. */
  readonly sockets?: {
    readonly withCompletionQueue: (size: number) => Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable>
    /** Why a stream closed with unread data cannot reach its peer as a reset here, if it cannot. */
    readonly cannotReset?: string
    /** Why a send here cannot stop short when the peer's buffers are full (`unsafeSendNow`), if it cannot. */
    readonly sendsWait?: string
    /** Why a truncated datagram's whole size is unknown here (`WSAEMSGSIZE.size`), if it is. */
    readonly truncatedSizeUnknown?: string
    /** Why a connect to a listener with a full backlog is refused here instead of left waiting, if it is. */
    readonly fullBacklogRefuses?: string
  }
}

/**
 * Tries to build each candidate's layer once: one that fails is kept, marked skipped with
 * its error's message, so that a backend missing from an environment shows in the report.
 */
export const probe = (candidates: ReadonlyArray<Backend>): Promise<ReadonlyArray<Backend>> =>
  Promise.all(candidates.map(async (backend) => {
    const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(backend.layer)))
    if (Exit.isSuccess(exit)) return backend
    const failure = exit.cause._tag === "Fail" ? exit.cause.error.message : String(exit.cause)
    return { ...backend, skip: failure }
  }))

/**
 * The test double, a driver written in the test and provided with `Layer.succeed`, and the
 * real backends of every platform — those that cannot start here reported as skipped.
 * Under Wine, `test/wine/backends.ts` adds the Winsock driver over the reference provider.
 */
export const candidates: ReadonlyArray<Backend> = [
  {
    name: "RioTest",
    layer: RioTest.layer(),
    sockets: {
      withCompletionQueue: (size) => RioTest.layer({ completionQueueSize: size }),
      sendsWait: "the double buffers what is sent without limit: its sends never find a peer full",
      fullBacklogRefuses: "the double refuses a connect when the backlog is full, as Windows does (Linux lets it wait)"
    }
  },
  {
    name: "custom driver (Layer.succeed + RegisteredIo.make)",
    layer: Layer.suspend(() => Layer.succeed(RegisteredIo.RegisteredIo, RegisteredIo.make(makeCustomDriver())))
  },
  {
    name: "KoffiRio.layerLinux (io_uring)",
    layer: KoffiRio.layerLinux(),
    sockets: { withCompletionQueue: (size) => KoffiRio.layerLinux({ completionQueueSize: size }) }
  },
  {
    name: "KoffiRio.layerLinux({ multishot: false }) (io_uring, receive rings by posted receives)",
    layer: KoffiRio.layerLinux({ multishot: false }),
    sockets: { withCompletionQueue: (size) => KoffiRio.layerLinux({ multishot: false, completionQueueSize: size }) }
  },
  { name: "KoffiRio.layerWindows (system RIO)", layer: KoffiRio.layerWindows() }
]

export const backends: ReadonlyArray<Backend> = await probe(candidates)
