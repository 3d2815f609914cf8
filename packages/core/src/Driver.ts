/**
 * The synchronous, already-validated view of an OS registration API that a backend
 * implements. `RegisteredIo.make` turns a driver into the `RegisteredIo` service,
 * adding the validation, bookkeeping and statistics that every backend shares, so that
 * backends differ only in the native calls.
 *
 * @since 0.1.0
 */
import type { BufferId } from "./BufferId.js"
import type { SocketAddress, UnixAddress } from "./RegisteredSocket.js"
import type {
  NetworkError,
  RegisterError,
  RioSystemError,
  WSAEFAULT,
  WSAEINVAL,
  WSAENOBUFS,
  WSAETIMEDOUT
} from "./RioError.js"
import type { OptionValues } from "./SocketOptions.js"

/**
 * Native memory owned by a backend: a stable address and a view of it.
 *
 * @since 0.1.0
 * @category models
 */
export interface NativeMemory {
  readonly address: bigint
  readonly bytes: Uint8Array
}

/**
 * A backend's native calls. Every method is synchronous (one FFI call or a few) and
 * returns its error instead of throwing. Arguments are already validated by the core:
 * lengths are integers in `1..maxBufferLength`, ids are live, memory is the driver's own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver {
  /** A short name, for example `"io_uring"`, `"winsock"` or `"test"`. */
  readonly backend: string
  readonly pageSize: number
  /** The largest single registration the backend accepts (DWORD on Windows, 1 GiB on io_uring). */
  readonly maxBufferLength: number
  /** Why `maxBufferLength` is lower than a DWORD, for the error message (for example io_uring's 1 GiB). */
  readonly maxBufferLengthReason?: string
  /** Stable address of a materialised view's first byte. */
  readonly addressOf: (bytes: Uint8Array) => bigint
  /** RIORegisterBuffer. */
  readonly register: (address: bigint, length: number) => BufferId | RegisterError | RioSystemError
  /** RIODeregisterBuffer. The core calls it only once no I/O token is outstanding on `id`. */
  readonly deregister: (id: BufferId) => WSAEINVAL | RioSystemError | undefined
  /** Page-aligned, committed, zeroed memory of at least `byteLength` bytes. */
  readonly allocate: (byteLength: number) => NativeMemory | WSAENOBUFS | RioSystemError
  /**
   * Gives memory back. Views of it must stay safe to touch afterwards (they may read
   * zeros): a stale view must never crash the process.
   */
  readonly free: (memory: NativeMemory) => void
  /** Called once when the service's scope closes, after every registration is gone. */
  readonly close?: () => void
  /** The backend's sockets, where it has them. */
  readonly net?: NetDriver
}

/**
 * How many pages `[address, address + length)` touches: what a kernel locks for one
 * registration of that range.
 *
 * @since 0.1.0
 * @category utils
 */
export const pagesCovered = (address: bigint, length: number, pageSize: number): number => {
  // User-space addresses fit a double exactly, and this runs on every registration:
  // plain arithmetic, not BigInt.
  const start = Number(address)
  return Math.floor((start + length - 1) / pageSize) - Math.floor(start / pageSize) + 1
}

/**
 * A slice handed to a network driver: validated by the core, its registration open and
 * holding a token until the operation's `done` has run.
 *
 * @since 0.2.0
 * @category models
 */
export interface Region {
  readonly bufferId: BufferId
  readonly offset: number
  readonly length: number
  /** The registration's first byte, as a number (user-space addresses fit a double exactly). */
  readonly base: number
  /** A view of the whole registration (`bytes[offset]` is the slice's first byte). */
  readonly memory: Uint8Array
}

/**
 * A socket of a network driver: its handle, and its addresses once known (paths for a Unix
 * domain socket).
 *
 * @since 0.2.0
 * @category models
 */
export interface NetSocket<A extends SocketAddress | UnixAddress = SocketAddress | UnixAddress> {
  readonly handle: number
  readonly local: A
  readonly remote: A | undefined
}

type IpSocket = NetSocket<SocketAddress>

/**
 * An operation handed to the kernel. `cancel` asks for it to end early; its `done` still
 * runs exactly once afterwards (with `WSAECONNABORTED` if it was cancelled), and only then
 * may the memory it uses be reused.
 *
 * @since 0.2.0
 * @category models
 */
export interface Pending {
  readonly cancel: () => void
}

/**
 * What a network operation completes with: its value or the typed error the driver
 * mapped its native code to.
 *
 * @since 0.2.0
 * @category models
 */
export type Done<A> = (result: A | NetDriverError) => void

/**
 * The errors a network driver reports.
 *
 * @since 0.2.0
 * @category models
 */
export type NetDriverError = NetworkError | WSAEINVAL | WSAEFAULT | WSAENOBUFS | WSAETIMEDOUT | RioSystemError

/**
 * A socket option the core sets and reads through a driver, by its `SocketOptions` name
 * (SO_RCVBUF is `receiveBufferSize`, …). Values are integers: 0 / 1 for yes / no, bytes for
 * buffer sizes, seconds for `keepAliveInitialDelay`, hops for the TTLs. Which level and
 * number each is, and which variant an IPv6 socket takes, is the driver's to know.
 *
 * @since 0.2.0
 * @category models
 */
export type OptionName = keyof OptionValues

/**
 * Options a new socket gets before it binds or connects (an accepted one: at once), in order.
 *
 * @since 0.2.0
 * @category models
 */
export type OptionSettings = ReadonlyArray<readonly [name: OptionName, value: number]>

/**
 * A backend's sockets. Synchronous calls return their result; operations that wait for
 * the network take a `done` callback, run it exactly once (never synchronously inside the
 * call), and return a `Pending`. Operations started in the same event-loop turn should
 * reach the kernel in one submission. Arguments are validated by the core: regions lie in
 * live registrations of this driver, addresses are parsed, sockets are open.
 *
 * @since 0.2.0
 * @category models
 */
export interface NetDriver {
  /**
   * A UDP socket with `options`, bound to `bind` (port 0: a free port, reported in `local`),
   * and connected to `peer` when given (its `remote`: sends go there, only its datagrams arrive).
   */
  readonly udp: (bind: SocketAddress, options: OptionSettings, peer?: SocketAddress) => IpSocket | NetDriverError
  /** A TCP socket with `options`, bound to `bind` and listening. */
  readonly listen: (bind: SocketAddress, backlog: number, options: OptionSettings) => IpSocket | NetDriverError
  /** A TCP socket with `options`, connected to `peer`. */
  readonly connect: (peer: SocketAddress, options: OptionSettings, done: Done<IpSocket>) => Pending
  /** The next connection of `listener` (TCP or Unix), with `options`; its addresses are the listener's kind. */
  readonly accept: (listener: NetSocket, options: OptionSettings, done: Done<NetSocket>) => Pending
  /**
   * Unix domain stream sockets, where the backend runs registered I/O on them; without it a
   * `path` is `RioUnavailable`. Their streams take the same operations as TCP's.
   */
  readonly unix?: UnixSockets
  /** Sets one option of an open socket (`WSAENOPROTOOPT` where the platform lacks it). */
  readonly setOption: (socket: NetSocket, name: OptionName, value: number) => NetDriverError | undefined
  /** Reads one option back from the kernel. */
  readonly getOption: (socket: NetSocket, name: OptionName) => number | NetDriverError
  /**
   * UDP: joins (`join`) or leaves the multicast `group` (a numeric address of the socket's
   * family) on the interface whose address is `iface` (IPv4; `undefined`: the system's choice).
   */
  readonly membership: (
    socket: NetSocket,
    group: string,
    iface: string | undefined,
    join: boolean
  ) => NetDriverError | undefined
  /** TCP: bytes written from the region (may be fewer than its length). */
  readonly send: (socket: NetSocket, region: Region, done: Done<number>) => Pending
  /**
   * TCP, optional: one vectored send (gather) of several regions, so that a batch of slices
   * costs one operation instead of one each. Without it the core sends one region at a time.
   */
  readonly gatherSend?: GatherSend
  /**
   * TCP, optional: a send that never waits for room — it takes what the socket's send buffer
   * holds now, 0 when it is full. Without it the core's send-without-waiting is `send` (which
   * waits for room, so that a peer that stops reading keeps the region's slot in the kernel).
   */
  readonly sendNow?: (socket: NetSocket, region: Region, done: Done<number>) => Pending
  /**
   * TCP, optional: completes (with 0) once the socket's send buffer has room again or its peer
   * has gone (the next send reports how). Without it the core takes every socket as writable.
   */
  readonly whenWritable?: (socket: NetSocket, done: Done<number>) => Pending
  /** TCP: bytes read into the region; 0 is the peer's orderly close. */
  readonly receive: (socket: NetSocket, region: Region, done: Done<number>) => Pending
  /** UDP: one datagram to `peer`; `undefined` on a connected socket: to its peer. */
  readonly sendTo: (socket: NetSocket, region: Region, peer: SocketAddress | undefined, done: Done<number>) => Pending
  /** UDP: one datagram; larger than the region is `WSAEMSGSIZE`. */
  readonly receiveFrom: (
    socket: NetSocket,
    region: Region,
    done: Done<{ readonly length: number; readonly address: SocketAddress }>
  ) => Pending
  readonly shutdown: (socket: NetSocket, how: "read" | "write" | "both") => NetDriverError | undefined
  /** Closes the socket; the core calls it once no operation on it is outstanding. */
  readonly close: (socket: NetSocket) => void
  /**
   * The driver's own UDP receive rings, where the kernel can fill many slots from one request
   * (io_uring's multishot receive into provided buffers). Without it the core posts one
   * `receiveFrom` per free slot, as Winsock RIO does.
   */
  readonly udpReceiveRings?: ReceiveRings
  /**
   * The driver's own TCP receive slots, shared by many streams, where the kernel picks a slot
   * for each chunk it receives (io_uring's multishot RECV into provided buffers). Without it
   * the core posts one `receive` per stream at a time, into a free slot.
   */
  readonly tcpReceiveRings?: StreamRings
}

/**
 * A backend's Unix domain stream sockets: listeners bound to a path and connections to one.
 * Accepting, the data path and closing are the `NetDriver`'s own calls.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnixSockets {
  /** Bound to `path` and listening: a path that exists is `WSAEADDRINUSE`; `close` removes it. */
  readonly listen: (path: string, backlog: number, options: OptionSettings) => NetSocket<UnixAddress> | NetDriverError
  /** A socket with `options`, connected to the listener at `path`: none there is `WSAECONNREFUSED`. */
  readonly connect: (path: string, options: OptionSettings, done: Done<NetSocket<UnixAddress>>) => Pending
}

/**
 * Where a driver's receive ring reports, from its completion handling.
 *
 * @since 0.2.0
 * @category models
 */
export interface RingSink {
  /** Slot `slot` holds a datagram of `length` bytes at `offset` from the slot's start, sent by `address`. */
  readonly deliver: (slot: number, offset: number, length: number, address: SocketAddress) => void
  /**
   * A datagram that did not fit slot `slot` (the slot goes back to the kernel once a caller
   * has taken the error), or, with `slot` -1, a failure of the receive itself.
   */
  readonly fail: (slot: number, error: NetDriverError) => void
  /** Called after each batch of completions, so that waiting fibers wake once per batch. */
  readonly flush: () => void
  /** Nothing more arrives (the socket broke, the layer closed): after what is ready, each call fails with `error`. */
  readonly end: (error: NetDriverError) => void
}

/**
 * A receive ring a driver runs on one socket.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReceiveRing {
  /** How the kernel fills it, for example `"multishot RECVMSG into provided buffers"`. */
  readonly mechanism: string
  /** Gives `slot` back to the kernel to receive into. */
  readonly recycle: (slot: number) => void
  /** Stops receiving; `done` runs once, after the kernel has let go of every slot. */
  readonly close: (done: () => void) => void
}

/**
 * A driver's receive rings: how many bytes at the start of each slot the kernel keeps for
 * itself (a multishot receive writes a header and the sender's address there), and how to
 * open one over `memory` (a live registration cut into `slots` slots of `slotBytes`).
 *
 * @since 0.2.0
 * @category models
 */
export interface ReceiveRings {
  readonly headerBytes: number
  readonly open: (
    socket: NetSocket,
    memory: Region,
    slotBytes: number,
    slots: number,
    sink: RingSink
  ) => ReceiveRing | NetDriverError
}

/**
 * A driver's vectored TCP send.
 *
 * @since 0.2.0
 * @category models
 */
export interface GatherSend {
  /** The most regions one call takes. */
  readonly maxRegions: number
  /**
   * Sends `regions[from]` (without its first `skip` bytes, already sent) and the `count - 1`
   * regions after it, in order, as one operation: the bytes written, which may be fewer than
   * their total.
   */
  readonly send: (
    socket: NetSocket,
    regions: ReadonlyArray<Region>,
    from: number,
    count: number,
    skip: number,
    done: Done<number>
  ) => Pending
}

/**
 * Where one stream's receiving reports, from its driver's completion handling.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamSink {
  /** Slot `slot` holds the stream's next `length` bytes (at least one), from the slot's start. */
  readonly deliver: (slot: number, length: number) => void
  /** Nothing more arrives: `undefined` is the peer's orderly close, else the error that ended it. At most once. */
  readonly end: (error: NetDriverError | undefined) => void
  /** Called after each batch of completions, so that waiting fibers wake once per batch. */
  readonly flush: () => void
}

/**
 * One stream's receiving into a shared set of slots.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamReceiver {
  /**
   * Stops taking slots for this stream: its bytes wait in the socket (and the peer's window
   * closes) until `resume`. A completion already under way is still delivered.
   */
  readonly pause: () => void
  /** Receives again after `pause`. */
  readonly resume: () => void
  /** Stops receiving; `done` runs once, after the kernel has let go of this stream's requests. */
  readonly close: (done: () => void) => void
}

/**
 * Receive slots shared by many TCP streams: one registration cut into equal slots, each in
 * the kernel's hands or holding one stream's bytes until it is recycled.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamSlots {
  /** How the kernel fills the slots, for example `"multishot RECV into provided buffers"`. */
  readonly mechanism: string
  /** Gives `slot` back to the kernel to receive into. */
  readonly recycle: (slot: number) => void
  /** Starts receiving `socket`'s bytes into the slots; each chunk goes to `sink`, in order. */
  readonly receive: (socket: NetSocket, sink: StreamSink) => StreamReceiver | NetDriverError
  /** Called once every receiver has closed; `done` runs once the kernel has let go of every slot. */
  readonly close: (done: () => void) => void
}

/**
 * A driver's shared TCP receive slots: how to open a set over `memory` (a live registration
 * cut into `slots` slots of `slotBytes`).
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamRings {
  readonly open: (memory: Region, slotBytes: number, slots: number) => StreamSlots | NetDriverError
}
