/**
 * A simulated address space, so that page footprints are modelled truthfully without
 * native memory: backend allocations are page-aligned with a guard page between them,
 * and user buffers get heap-like addresses (16-byte aligned, packed) on first sight.
 */
const ALLOCATION_BASE = 0x1000_0000n
const HEAP_BASE = 0x7f00_0000_0000n

export class AddressSpace {
  private nextAllocation = ALLOCATION_BASE
  private nextHeap = HEAP_BASE
  private readonly heap = new WeakMap<ArrayBufferLike, bigint>()
  private readonly heapRegions: Array<
    { readonly address: bigint; readonly length: number; readonly buffer: WeakRef<ArrayBufferLike> }
  > = []
  readonly allocations = new Map<bigint, number>()

  constructor(readonly pageSize: number) {}

  /** Backs `bytes` with a fresh page-aligned range. */
  allocate(bytes: Uint8Array): bigint {
    const size = BigInt(Math.ceil(bytes.byteLength / this.pageSize) * this.pageSize)
    const address = this.nextAllocation
    this.nextAllocation += size + BigInt(this.pageSize)
    this.allocations.set(address, bytes.byteLength)
    this.heap.set(bytes.buffer, address)
    return address
  }

  release(address: bigint): void {
    this.allocations.delete(address)
  }

  addressOf(bytes: Uint8Array): bigint {
    const buffer = bytes.buffer
    let base = this.heap.get(buffer)
    if (base === undefined) {
      base = this.nextHeap
      this.nextHeap += BigInt(Math.ceil(Math.max(buffer.byteLength, 1) / 16) * 16)
      this.heap.set(buffer, base)
      this.heapRegions.push({ address: base, length: buffer.byteLength, buffer: new WeakRef(buffer) })
    }
    return base + BigInt(bytes.byteOffset)
  }

  /** Whether `[address, address + length)` is memory this space handed out and still holds. */
  contains(address: bigint, length: number): boolean {
    const end = address + BigInt(length)
    for (const [start, size] of this.allocations) {
      if (address >= start && end <= start + BigInt(size)) return true
    }
    return this.heapRegions.some((region) =>
      region.buffer.deref() !== undefined && address >= region.address &&
      end <= region.address + BigInt(region.length)
    )
  }
}
