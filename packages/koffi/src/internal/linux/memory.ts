/**
 * Page-aligned native memory from anonymous `mmap`, exposed to JS with `koffi.view`.
 *
 * A view of freed memory must never crash the process, and Koffi's views (external
 * ArrayBuffers) cannot be detached. So `free` returns the pages (MADV_DONTNEED: a stale view
 * reads zeros, a write only dirties a fresh private page) but keeps the address range; a
 * FinalizationRegistry unmaps the range once no JS object can reach the view any more.
 *
 * @internal
 */
import type { NativeMemory } from "@effect-rio/core/Driver"
import type * as RioError from "@effect-rio/core/RioError"
import koffi from "koffi"
import { allocationFailed, noExternalBuffers } from "./errors.js"
import * as Libc from "./libc.js"

/** One anonymous mapping: whole pages. */
interface Mapping {
  readonly address: bigint
  readonly length: number
}

// Module-wide: a registry only calls back while it is itself reachable, and mappings must be
// returned even after the driver that made them is gone.
const reclaim = new FinalizationRegistry<Mapping>(({ address, length }) => {
  Libc.load().munmap(address, length)
})

/** The allocator behind the driver's `allocate` / `free`. */
export interface Allocator {
  readonly allocate: (byteLength: number) => NativeMemory | RioError.WSAENOBUFS | RioError.RioSystemError
  readonly free: (memory: NativeMemory) => void
}

/** An allocator rounding every allocation up to whole pages. */
export const make = (libc: Libc.Libc, pageSize: number): Allocator => {
  // Allocations not yet freed, keyed by their views' ArrayBuffer, so that `free` only ever
  // touches memory this allocator mapped, once.
  const live = new WeakMap<ArrayBufferLike, Mapping>()

  const allocate = (byteLength: number): NativeMemory | RioError.WSAENOBUFS | RioError.RioSystemError => {
    const length = Math.ceil(byteLength / pageSize) * pageSize
    const address = libc.mmap(length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS)
    if (address === Libc.MAP_FAILED) return allocationFailed(libc.errno(), length)
    // A transparent huge page would be pinned and charged whole (2 MiB) even for a 4 KiB
    // registration; base pages keep the locked-page count what the user asked for.
    // Best effort: kernels without THP answer EINVAL, and then the advice is moot.
    libc.madvise(address, length, Libc.MADV_NOHUGEPAGE)
    let bytes: Uint8Array
    try {
      bytes = new Uint8Array(koffi.view(address, byteLength))
    } catch (cause) {
      libc.munmap(address, length)
      return noExternalBuffers(byteLength, cause)
    }
    const mapping: Mapping = { address, length }
    live.set(bytes.buffer, mapping)
    reclaim.register(bytes.buffer, mapping)
    return { address, bytes }
  }

  // Unmapping now would turn any stale view into a segfault; the range goes when the view is
  // collected (see `reclaim`).
  const free = (memory: NativeMemory): void => {
    const mapping = live.get(memory.bytes.buffer)
    if (mapping === undefined) return
    live.delete(memory.bytes.buffer)
    libc.madvise(mapping.address, mapping.length, Libc.MADV_DONTNEED)
  }

  return { allocate, free }
}
