/**
 * Test helpers for the Windows backend: the reference RIO provider's own exports (leak
 * counters, limits, error injection) and a few kernel32 calls to look at memory and events.
 * Only loadable on Windows (or Windows Node under Wine).
 */
import koffi from "koffi"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

/** The reference provider DLL built by test/wine/run.sh (or named by EFFECT_RIO_WINDOWS_PROVIDER). */
export const providerPath: string = process.env.EFFECT_RIO_WINDOWS_PROVIDER ??
  fileURLToPath(new URL("../../../../test/wine/build/rio_reference.dll", import.meta.url))

/** True where the provider tests can run: Windows Node with the DLL built. */
export const providerAvailable: boolean = process.platform === "win32" && fs.existsSync(providerPath)

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

/** `MEMORY_BASIC_INFORMATION` (x64, 48 bytes). */
const MEMORY_BASIC_INFORMATION = koffi.struct({
  BaseAddress: "void *",
  AllocationBase: "void *",
  AllocationProtect: "uint32_t",
  PartitionId: "uint16_t",
  RegionSize: "size_t",
  State: "uint32_t",
  Protect: "uint32_t",
  Type: "uint32_t"
})

export const MEM_COMMIT = 0x1000
export const MEM_RESERVE = 0x2000
export const MEM_FREE = 0x10000

interface Reference {
  readonly stats: () => ReferenceStats
  readonly setLimits: (registrations: number, registeredBytes: number) => void
  readonly failNextRegistration: (code: number) => void
  readonly connect: (a: bigint, b: bigint) => boolean
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
  reference = {
    stats: () => {
      const out: Record<string, unknown> = {}
      getStats(out)
      return Object.fromEntries(statsFields.map((name) => [name, Number(out[name])])) as unknown as ReferenceStats
    },
    setLimits: (registrations, registeredBytes) => setLimits(registrations, registeredBytes),
    failNextRegistration: (code) => failNext(code),
    connect: (a, b) => connect(a, b) !== 0
  }
  return reference
}

interface Kernel32 {
  readonly CreateEventW: () => bigint
  readonly WaitForSingleObject: (handle: bigint, milliseconds: number) => number
  readonly CloseHandle: (handle: bigint) => boolean
  readonly query: (address: bigint) => { readonly State: number; readonly Protect: number; readonly RegionSize: number }
}

let kernel32: Kernel32 | undefined

/** kernel32 calls the tests use to observe events and memory state. */
export const win32 = (): Kernel32 => {
  if (kernel32 !== undefined) return kernel32
  const lib = koffi.load("kernel32.dll")
  const CreateEventW = lib.func("__stdcall", "CreateEventW", "void *", ["void *", "int32_t", "int32_t", "void *"])
  const WaitForSingleObject = lib.func("__stdcall", "WaitForSingleObject", "uint32_t", ["void *", "uint32_t"])
  const CloseHandle = lib.func("__stdcall", "CloseHandle", "int32_t", ["void *"])
  const VirtualQuery = lib.func("__stdcall", "VirtualQuery", "size_t", [
    "void *",
    koffi.out(koffi.pointer(MEMORY_BASIC_INFORMATION)),
    "size_t"
  ])
  kernel32 = {
    // Manual reset, initially not signalled.
    CreateEventW: () => BigInt(CreateEventW(null, 1, 0, null) as bigint),
    WaitForSingleObject: (handle, milliseconds) => WaitForSingleObject(handle, milliseconds) as number,
    CloseHandle: (handle) => CloseHandle(handle) !== 0,
    query: (address) => {
      const info: Record<string, unknown> = {}
      VirtualQuery(address, info, koffi.sizeof(MEMORY_BASIC_INFORMATION))
      return { State: Number(info.State), Protect: Number(info.Protect), RegionSize: Number(info.RegionSize) }
    }
  }
  return kernel32
}

/** True under Wine, where the system Winsock has no RIO. */
export { isWine } from "../../src/internal/windows/winsock.js"
