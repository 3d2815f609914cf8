/**
 * Test helpers for the Windows backend around the reference RIO provider
 * (test/wine/rio_reference.c): its path, its own exports (leak counters, limits, error
 * injection, and what a caller did with it), the driver's layer over it, and its function
 * table decoded by the driver's binding for tests that call RIO themselves. Only loadable on
 * Windows (or Windows Node under Wine).
 */
import * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type * as RioError from "@effect-rio/core/RioError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import koffi from "koffi"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as Abi from "../../src/internal/windows/abi.js"
import * as WindowsDriver from "../../src/internal/windows/driver.js"
import * as FunctionTable from "../../src/internal/windows/functionTable.js"
import * as Winsock from "../../src/internal/windows/winsock.js"

/** The reference provider DLL built by test/wine/run.sh (or named by EFFECT_RIO_WINDOWS_PROVIDER). */
export const providerPath: string = process.env.EFFECT_RIO_WINDOWS_PROVIDER ??
  fileURLToPath(new URL("../../../../test/wine/build/rio_reference.dll", import.meta.url))

/** True where the provider tests can run: Windows Node with the DLL built. */
export const providerAvailable: boolean = process.platform === "win32" && fs.existsSync(providerPath)

/** The Winsock driver over the reference provider, through the driver's ABI-test seam. */
export const providerDriver = (
  options: Omit<WindowsDriver.Options, "provider"> = {}
): ReturnType<typeof WindowsDriver.make> => WindowsDriver.make({ ...options, provider: providerPath })

/** The `RegisteredIo` layer of {@link providerDriver}. */
export const providerLayer = (
  options: Omit<WindowsDriver.Options, "provider"> = {}
): Layer.Layer<RegisteredIo.RegisteredIo, RioError.RioUnavailable> => RegisteredIo.layerDriver(providerDriver(options))

/** `RIO_REFERENCE_STATS` (test/wine/rio_abi.h). */
export interface ReferenceStats {
  readonly LiveRegistrations: number
  readonly RegisteredBytes: number
  readonly LockedPages: number
  readonly TotalRegistrations: number
  readonly TotalDeregistrations: number
  readonly InvalidDeregistrations: number
  readonly DeregistrationsWithIoOutstanding: number
  readonly LiveCompletionQueues: number
  readonly LiveRequestQueues: number
  readonly OutstandingRequests: number
}

const statsFields = [
  "LiveRegistrations",
  "RegisteredBytes",
  "LockedPages",
  "TotalRegistrations",
  "TotalDeregistrations",
  "InvalidDeregistrations",
  "DeregistrationsWithIoOutstanding",
  "LiveCompletionQueues",
  "LiveRequestQueues",
  "OutstandingRequests"
] as const

const STATS = koffi.struct(Object.fromEntries(statsFields.map((name) => [name, "uint64_t"])))

interface Reference {
  readonly stats: () => ReferenceStats
  readonly setLimits: (registrations: number, registeredBytes: number) => void
  readonly failNextRegistration: (code: number) => void
  readonly connect: (a: bigint, b: bigint) => boolean
  /** How many function tables the provider has handed out in this process. */
  readonly functionTableRequests: () => number
  /** The native id of the one live registration starting at `address`, if there is exactly one. */
  readonly findRegistration: (address: bigint) => bigint | undefined
}

let reference: Reference | undefined

/** The provider's test exports (the same DLL instance the driver loaded: LoadLibrary is per process). */
export const provider = (): Reference => {
  if (reference !== undefined) return reference
  const lib = koffi.load(providerPath)
  const getStats = lib.func("__stdcall", "RioReferenceGetStats", "void", [koffi.out(koffi.pointer(STATS))])
  const setLimits = lib.func("__stdcall", "RioReferenceSetLimits", "void", ["uint32_t", "uint64_t"])
  const failNext = lib.func("__stdcall", "RioReferenceFailNextRegistration", "void", ["int32_t"])
  const connect = lib.func("__stdcall", "RioReferenceConnect", "int32_t", ["uintptr_t", "uintptr_t"])
  const tableRequests = lib.func("__stdcall", "RioReferenceFunctionTableRequests", "uint32_t", [])
  const findRegistration = lib.func("__stdcall", "RioReferenceFindRegistration", "uintptr_t", ["uintptr_t"])
  reference = {
    stats: () => {
      const out: Record<string, unknown> = {}
      getStats(out)
      return Object.fromEntries(statsFields.map((name) => [name, Number(out[name])])) as unknown as ReferenceStats
    },
    setLimits: (registrations, registeredBytes) => setLimits(registrations, registeredBytes),
    failNextRegistration: (code) => failNext(code),
    connect: (a, b) => connect(a, b) !== 0,
    functionTableRequests: () => tableRequests() as number,
    findRegistration: (address) => {
      const id = Abi.toBigInt(findRegistration(address))
      return id === Abi.RIO_INVALID_BUFFERID ? undefined : id
    }
  }
  return reference
}

/** The reference provider's RIO functions, and the Winsock entry points, for calling RIO directly. */
export interface Rio {
  readonly ws: Winsock.Native
  readonly rio: FunctionTable.RioFunctions
}

/**
 * The reference provider's function table, decoded by the driver's own binding (so a test
 * through it still exercises that code), with Winsock started for the scope.
 */
export const providerRio: Effect.Effect<Rio, never, Scope.Scope> = Effect.gen(function*() {
  const ws = Winsock.native()
  const orDie = <A>(result: A | Winsock.Failure): A => {
    if (Winsock.isFailure(result)) throw new Error(`${result.call} failed with ${result.code}`)
    return result
  }
  yield* Effect.acquireRelease(Effect.sync(() => orDie(Winsock.startup(ws))), () => Effect.sync(() => ws.WSACleanup()))
  const socket = yield* Effect.acquireRelease(
    Effect.sync(() => orDie(Winsock.openSocket(ws))),
    (socket) => Effect.sync(() => ws.closesocket(socket))
  )
  return { ws, rio: orDie(FunctionTable.load(ws, socket, providerPath)) }
})
