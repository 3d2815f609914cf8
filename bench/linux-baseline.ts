/**
 * Baseline (a) for the Linux registration benchmark: what a user would write without
 * effect-rio — Koffi straight onto io_uring_register, no Effect, no validation, no
 * bookkeeping. One slot of a sparse table is registered and cleared per pair.
 *
 * Self-contained on purpose (its own libc bindings), so the baseline cannot inherit a
 * cost or a saving from the code it is compared with.
 */
import koffi from "koffi"

const SYS_io_uring_setup = 425
const SYS_io_uring_register = 427
const IORING_REGISTER_BUFFERS2 = 15
const IORING_REGISTER_BUFFERS_UPDATE = 16
const IORING_RSRC_REGISTER_SPARSE = 1
/** struct io_uring_rsrc_register and struct io_uring_rsrc_update2 are both 32 bytes. */
const RSRC_STRUCT_SIZE = 32
/** struct io_uring_params. */
const PARAMS_SIZE = 120

interface Bound {
  readonly setup: (nr: number, entries: number, params: Uint8Array) => number
  readonly register: (nr: number, fd: number, opcode: number, arg: bigint | Uint8Array | null, size: number) => number
  readonly close: (fd: number) => number
}

let bound: Bound | undefined

const bind = (): Bound => {
  if (bound === undefined) {
    const libc = koffi.load("libc.so.6")
    bound = {
      setup: libc.func("syscall", "int64", ["int64", "int64", "void *"]),
      register: libc.func("syscall", "int64", ["int64", "int64", "int64", "void *", "int64"]),
      close: libc.func("close", "int32", ["int32"])
    }
  }
  return bound
}

/**
 * An io_uring with a sparse buffer table, and the bare register+deregister pair. The update
 * struct and its iovec live in one preallocated block whose address is passed as a BigInt,
 * so a pair allocates nothing and Koffi marshals no objects.
 */
export class DirectUring {
  readonly fd: number
  private readonly libc = bind()
  private readonly block = new ArrayBuffer(RSRC_STRUCT_SIZE + 16)
  private readonly view = new DataView(this.block)
  private readonly blockAddress: bigint = koffi.address(this.block)

  constructor(slots = 16) {
    const { register, setup } = this.libc
    const fd = setup(SYS_io_uring_setup, 1, new Uint8Array(PARAMS_SIZE))
    if (fd < 0) throw new Error(`io_uring_setup failed: errno ${koffi.errno()}`)
    const table = new DataView(new ArrayBuffer(RSRC_STRUCT_SIZE))
    table.setUint32(0, slots, true)
    table.setUint32(4, IORING_RSRC_REGISTER_SPARSE, true)
    const created = register(
      SYS_io_uring_register,
      fd,
      IORING_REGISTER_BUFFERS2,
      new Uint8Array(table.buffer),
      RSRC_STRUCT_SIZE
    )
    if (created < 0) {
      const errno = koffi.errno()
      this.libc.close(fd)
      throw new Error(`IORING_REGISTER_BUFFERS2 failed: errno ${errno}`)
    }
    this.fd = fd
    // update2 { offset = slot 0, data = &iovec, nr = 1 }; only the iovec changes per call.
    this.view.setBigUint64(8, this.blockAddress + BigInt(RSRC_STRUCT_SIZE), true)
    this.view.setUint32(24, 1, true)
  }

  /** Registers `[address, address + length)` in slot 0 and clears the slot again. `length` < 4 GiB. */
  registerDeregister(address: bigint, length: number): void {
    const { blockAddress, fd, view } = this
    const register = this.libc.register
    view.setBigUint64(RSRC_STRUCT_SIZE, address, true)
    view.setUint32(RSRC_STRUCT_SIZE + 8, length, true)
    if (register(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS_UPDATE, blockAddress, RSRC_STRUCT_SIZE) !== 1) {
      throw new Error(`register failed: errno ${koffi.errno()}`)
    }
    view.setBigUint64(RSRC_STRUCT_SIZE, 0n, true)
    view.setUint32(RSRC_STRUCT_SIZE + 8, 0, true)
    if (register(SYS_io_uring_register, fd, IORING_REGISTER_BUFFERS_UPDATE, blockAddress, RSRC_STRUCT_SIZE) !== 1) {
      throw new Error(`deregister failed: errno ${koffi.errno()}`)
    }
  }

  /** Closing the ring releases whatever is still registered. */
  close(): void {
    this.libc.close(this.fd)
  }
}
