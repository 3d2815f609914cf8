/**
 * Page-aligned native memory from VirtualAlloc, exposed to JS with `koffi.view`.
 *
 * The hard requirement is that a view of freed memory must never crash the process, and
 * Koffi's views (external ArrayBuffers) cannot be detached. So `free` never gives the
 * address range back while JS can still reach it:
 *
 *   free:   VirtualFree(MEM_DECOMMIT) then VirtualAlloc(MEM_COMMIT) on the same range.
 *           The physical pages go back to the system at once; the recommitted pages are
 *           fresh demand-zero pages, so a stale view reads zeros (and writes land in
 *           private pages nobody else sees) instead of faulting or leaking old bytes.
 *   GC:     a FinalizationRegistry on the view's ArrayBuffer releases the reservation
 *           (VirtualFree(MEM_RELEASE)) once no JS object can touch it any more.
 *
 * The cost is commit charge (not physical memory) held by freed-but-still-referenced
 * ranges until the collector runs. Recommitting a range we just decommitted can only fail
 * if the system commit limit is reached between the two calls; we retry once and, should it
 * still fail, keep the region marked so that nothing else is done to it.
 *
 * @internal
 */
import type { NativeMemory } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import koffi from "koffi"
import * as Abi from "./abi.js"
import type { Native } from "./winsock.js"

interface Region {
  readonly address: bigint
  readonly size: number
  state: "live" | "freed" | "uncommitted" | "released"
}

/** The allocator behind the driver's `allocate` / `free`. */
export interface Allocator {
  readonly allocate: (byteLength: number) => NativeMemory | RioError.WSAENOBUFS | RioError.RioSystemError
  readonly free: (memory: NativeMemory) => void
  /** Regions handed out and not yet given back with `free`. */
  readonly live: () => number
}

/** An allocator rounding every allocation up to whole pages. */
export const make = (ws: Native, pageSize: number): Allocator => {
  const regions = new Map<bigint, Region>()

  const release = (region: Region): void => {
    if (region.state === "released") return
    // Nothing may throw out of a finalization callback; a failed release only leaks
    // address space, which the process gets back at exit.
    try {
      ws.VirtualFree(region.address, 0, Abi.MEM_RELEASE)
    } catch {
      // ignored, see above
    }
    region.state = "released"
    regions.delete(region.address)
  }

  const registry = new FinalizationRegistry<Region>(release)

  const allocate = (byteLength: number): NativeMemory | RioError.WSAENOBUFS | RioError.RioSystemError => {
    const size = Math.ceil(byteLength / pageSize) * pageSize
    const address = ws.VirtualAlloc(null, size, Abi.MEM_COMMIT | Abi.MEM_RESERVE, Abi.PAGE_READWRITE)
    if (address === 0n) {
      const lastError = ws.GetLastError()
      if (lastError === Abi.ERROR_NOT_ENOUGH_MEMORY || lastError === Abi.ERROR_COMMITMENT_LIMIT) {
        return new RioError.WSAENOBUFS({
          operation: "VirtualAlloc",
          message:
            `VirtualAlloc could not commit ${size} bytes (Win32 error ${lastError}): the system commit limit is reached. ` +
            "Free unused buffers or allocate fewer, smaller ones.",
          cause: { lastError }
        })
      }
      return new RioError.RioSystemError({
        code: lastError,
        operation: "VirtualAlloc",
        message: `VirtualAlloc of ${size} bytes failed with Win32 error ${lastError}.`,
        cause: { lastError }
      })
    }
    let buffer: ArrayBuffer
    try {
      buffer = koffi.view(address, byteLength)
    } catch (error) {
      ws.VirtualFree(address, 0, Abi.MEM_RELEASE)
      return new RioError.RioSystemError({
        code: 0,
        operation: "koffi.view",
        message: "This runtime refuses external ArrayBuffers, so native memory cannot be exposed to JS.",
        cause: error
      })
    }
    const region: Region = { address, size, state: "live" }
    regions.set(address, region)
    registry.register(buffer, region)
    return { address, bytes: new Uint8Array(buffer) }
  }

  const free = (memory: NativeMemory): void => {
    const region = regions.get(memory.address)
    if (region === undefined || region.state !== "live") return
    ws.VirtualFree(region.address, region.size, Abi.MEM_DECOMMIT)
    const recommit = () =>
      ws.VirtualAlloc(region.address, region.size, Abi.MEM_COMMIT, Abi.PAGE_READWRITE) === region.address
    region.state = recommit() || recommit() ? "freed" : "uncommitted"
  }

  const live = () => {
    let count = 0
    for (const region of regions.values()) if (region.state === "live") count++
    return count
  }

  return { allocate, free, live }
}
