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
 * still fail, keep the allocation marked so that nothing else is done to it.
 *
 * @internal
 */
import type { NativeMemory } from "@effect-rio/core/Driver"
import type * as RioError from "@effect-rio/core/RioError"
import koffi from "koffi"
import * as Abi from "./abi.js"
import { allocationFailed, noExternalBuffers } from "./errors.js"
import type { Native } from "./winsock.js"

/** One VirtualAlloc reservation and what has been done to it. */
interface Allocation {
  readonly address: bigint
  readonly size: number
  state: "live" | "freed" | "uncommitted" | "released"
}

/** The allocator behind the driver's `allocate` / `free`. */
export interface Allocator {
  readonly allocate: (byteLength: number) => NativeMemory | RioError.WSAENOBUFS | RioError.RioSystemError
  readonly free: (memory: NativeMemory) => void
}

/** An allocator rounding every allocation up to whole pages. */
export const make = (ws: Native, pageSize: number): Allocator => {
  const allocations = new Map<bigint, Allocation>()

  const release = (allocation: Allocation): void => {
    if (allocation.state === "released") return
    // Nothing may throw out of a finalization callback; a failed release only leaks
    // address space, which the process gets back at exit.
    try {
      ws.VirtualFree(allocation.address, 0, Abi.MEM_RELEASE)
    } catch {
      // ignored, see above
    }
    allocation.state = "released"
    allocations.delete(allocation.address)
  }

  const registry = new FinalizationRegistry<Allocation>(release)

  const allocate = (byteLength: number): NativeMemory | RioError.WSAENOBUFS | RioError.RioSystemError => {
    const size = Math.ceil(byteLength / pageSize) * pageSize
    const address = ws.VirtualAlloc(null, size, Abi.MEM_COMMIT | Abi.MEM_RESERVE, Abi.PAGE_READWRITE)
    if (address === 0n) return allocationFailed(size, ws.GetLastError())
    let buffer: ArrayBuffer
    try {
      buffer = koffi.view(address, byteLength)
    } catch (error) {
      ws.VirtualFree(address, 0, Abi.MEM_RELEASE)
      return noExternalBuffers(error)
    }
    const allocation: Allocation = { address, size, state: "live" }
    allocations.set(address, allocation)
    registry.register(buffer, allocation)
    return { address, bytes: new Uint8Array(buffer) }
  }

  const free = (memory: NativeMemory): void => {
    const allocation = allocations.get(memory.address)
    if (allocation === undefined || allocation.state !== "live") return
    ws.VirtualFree(allocation.address, allocation.size, Abi.MEM_DECOMMIT)
    const recommit = () =>
      ws.VirtualAlloc(allocation.address, allocation.size, Abi.MEM_COMMIT, Abi.PAGE_READWRITE) === allocation.address
    allocation.state = recommit() || recommit() ? "freed" : "uncommitted"
  }

  return { allocate, free }
}
