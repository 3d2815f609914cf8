/**
 * A driver written outside the project's backends, to prove that `RegisteredIo.make` is
 * the whole contract: a user's own driver, provided with `Layer.succeed`, passes the same
 * conformance suite. Its "kernel" is plain JS: every buffer gets a page-aligned address of
 * its own, registrations are checked against the buffers it has seen alive.
 */
import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver, NativeMemory } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"

const PAGE = 4096

export const makeCustomDriver = (): Driver => {
  let next = 0x4000_0000n
  const bases = new WeakMap<ArrayBufferLike, bigint>()
  const known: Array<{ readonly base: bigint; readonly length: number; readonly buffer: WeakRef<ArrayBufferLike> }> = []
  const ids: Array<boolean> = []
  const baseOf = (buffer: ArrayBufferLike): bigint => {
    let base = bases.get(buffer)
    if (base === undefined) {
      base = next
      // A guard page after each buffer, so that no range spans two of them.
      next += BigInt((Math.ceil(Math.max(buffer.byteLength, 1) / PAGE) + 1) * PAGE)
      bases.set(buffer, base)
      known.push({ base, length: buffer.byteLength, buffer: new WeakRef(buffer) })
    }
    return base
  }
  return {
    backend: "custom",
    pageSize: PAGE,
    maxBufferLength: 0xFFFFFFFF,
    addressOf: (bytes) => baseOf(bytes.buffer) + BigInt(bytes.byteOffset),
    register: (address, length) => {
      const end = address + BigInt(length)
      const owned = known.some(({ base, buffer, length: size }) =>
        buffer.deref() !== undefined && address >= base && end <= base + BigInt(size)
      )
      if (!owned) {
        return new RioError.WSAEFAULT({ operation: "RIORegisterBuffer", message: "Not memory this process owns." })
      }
      const id = ids.findIndex((used) => !used)
      const slot = id < 0 ? ids.length : id
      ids[slot] = true
      return BufferId.unsafeMake(slot)
    },
    deregister: (id) => {
      if (ids[id] !== true) {
        return new RioError.WSAEINVAL({ operation: "RIODeregisterBuffer", message: `Buffer id ${id} is unknown.` })
      }
      ids[id] = false
      return undefined
    },
    allocate: (byteLength): NativeMemory => {
      const bytes = new Uint8Array(byteLength)
      return { address: baseOf(bytes.buffer), bytes }
    },
    free: (memory) => memory.bytes.fill(0)
  }
}
