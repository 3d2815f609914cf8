/**
 * kernel32 and ntdll, as the Windows tests use them to observe events and memory from the
 * outside, and to tell Wine from Windows. Only loadable on Windows (or Windows Node under Wine).
 */
import koffi from "koffi"

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

/**
 * True when this Windows process runs under Wine (ntdll exports `wine_get_version` there
 * and nowhere else): Wine's Winsock has no RIO.
 */
export const isWine = (): boolean => {
  if (process.platform !== "win32") return false
  try {
    koffi.load("ntdll.dll").func("__stdcall", "wine_get_version", "const char *", [])
    return true
  } catch {
    return false
  }
}
