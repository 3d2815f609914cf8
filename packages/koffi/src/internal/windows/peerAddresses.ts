/**
 * Where UDP requests keep the peer's address. RIOSendEx and RIOReceiveEx take it as a
 * RIO_BUF that must itself lie in a registered buffer, so the driver registers memory of its
 * own for it: one SOCKADDR_INET per operation-table entry, in chunks registered on first use.
 *
 * @internal
 */
import type { NativeMemory, NetDriverError } from "@effect-rio/core/Driver"
import * as Abi from "./abi.js"
import { lastError } from "./errors.js"
import type { RioFunctions } from "./functionTable.js"
import type { Allocator } from "./memory.js"
import { SOCKADDR_BYTES } from "./sockets.js"
import type { Native } from "./winsock.js"

/** Bytes per entry: a SOCKADDR_INET (28), rounded up to stay aligned. */
const STRIDE = 32
/** Slots per registered chunk. */
const CHUNK_ENTRIES = 2048

/** The address area of one entry: the RIO_BUF to pass, and where to read or write it. */
export interface PeerAddress {
  readonly buf: object
  readonly view: DataView
  readonly at: number
}

interface Chunk {
  readonly memory: NativeMemory
  readonly id: bigint
  readonly view: DataView
}

/** The registered peer-address areas, one per operation-table entry. */
export class PeerAddresses {
  private readonly chunks: Array<Chunk> = []

  constructor(
    private readonly ws: Native,
    private readonly rio: RioFunctions,
    private readonly allocator: Allocator
  ) {}

  /** The address area of `entry`, registered on first use. */
  of(entry: number): PeerAddress | NetDriverError {
    const index = Math.floor(entry / CHUNK_ENTRIES)
    while (this.chunks.length <= index) {
      const memory = this.allocator.allocate(STRIDE * CHUNK_ENTRIES)
      if (memory instanceof Error) return memory
      const id = this.rio.RIORegisterBuffer(memory.address, STRIDE * CHUNK_ENTRIES)
      if (id === Abi.RIO_INVALID_BUFFERID) {
        const error = lastError(this.ws, "RIORegisterBuffer (address scratch)")
        this.allocator.free(memory)
        return error
      }
      const bytes = memory.bytes
      this.chunks.push({ memory, id, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) })
    }
    const { id, view } = this.chunks[index]!
    const at = (entry % CHUNK_ENTRIES) * STRIDE
    return { buf: { BufferId: id, Offset: at, Length: SOCKADDR_BYTES }, view, at }
  }

  /** The address area of an entry that a posted request already uses. */
  posted(entry: number): PeerAddress {
    return this.of(entry) as PeerAddress
  }

  /** Deregisters and frees every chunk. */
  close(): void {
    for (const chunk of this.chunks) {
      this.rio.RIODeregisterBuffer(chunk.id)
      this.allocator.free(chunk.memory)
    }
    this.chunks.length = 0
  }
}
