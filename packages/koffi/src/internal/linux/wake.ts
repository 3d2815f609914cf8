/**
 * How the Linux driver learns that completions wait, without ever blocking Node's event loop.
 *
 * - `eventfd` (Linux 6.1+): the ring is created with DEFER_TASKRUN, so completion work waits
 *   for the event-loop thread instead of interrupting it, and an eventfd registered with the
 *   ring says when there is some. libuv watches the eventfd like any socket (through Node's
 *   own pipe handle), so a wake-up is one epoll event on the loop thread: no other thread,
 *   no signal. The loop thread then runs the deferred work and reads the completions in one
 *   `io_uring_enter(GETEVENTS)`.
 * - `thread` (older kernels, or a Node without the pipe handle): a worker thread blocks in
 *   `io_uring_enter(GETEVENTS)` through a Koffi async call and reports back. It costs a
 *   thread hand-off per wake-up.
 */
import type * as Libc from "./libc.js"
import { Errno } from "./libc.js"
import type { Queues } from "./queues.js"
import { Opcode } from "./queues.js"
import type { Ring } from "./uring.js"
import { IORING_REGISTER_EVENTFD } from "./uring.js"

/** How the loop learns that completions wait. */
export interface Wake {
  /** Something is outstanding: a wake-up must come when a completion does. */
  readonly arm: () => void
  /** Nothing is outstanding: nothing should keep the process alive. */
  readonly idle: () => void
  readonly close: () => void
}

interface PipeHandle {
  open(fd: number): number
  readStart(): number
  readStop(): number
  ref(): void
  unref(): void
  close(): void
  onread: (buffer: ArrayBuffer | undefined) => void
}

type PipeConstructor = new(type: number) => PipeHandle

/** Node's pipe handle, where this Node still exposes it. */
const pipeHandle = (): { readonly Pipe: PipeConstructor; readonly type: number } | undefined => {
  try {
    const binding = (process as unknown as { binding: (name: string) => unknown }).binding("pipe_wrap") as {
      Pipe: PipeConstructor
      constants: { SOCKET: number }
    }
    return typeof binding.Pipe === "function" ? { Pipe: binding.Pipe, type: binding.constants.SOCKET } : undefined
  } catch {
    return undefined
  }
}

/** Whether the eventfd wake-up can work here: decided before the ring is created. */
export const eventfdAvailable = (): boolean => pipeHandle() !== undefined

/** The eventfd wake-up for a DEFER_TASKRUN ring; the errno if the eventfd cannot be set up. */
export const eventfd = (libc: Libc.Libc, ring: Ring, woken: () => void): Wake | number => {
  const handle = pipeHandle()
  if (handle === undefined) return Errno.EOPNOTSUPP
  const fd = libc.eventfd()
  if (fd < 0) return libc.errno() || Errno.EMFILE
  if (libc.ioUringRegister(ring.fd, IORING_REGISTER_EVENTFD, Int32Array.of(fd), 1) < 0) {
    const errno = libc.errno()
    libc.close(fd)
    return errno || Errno.EINVAL
  }
  const pipe = new handle.Pipe(handle.type)
  pipe.open(fd)
  // libuv reads the 8-byte counter, which re-arms the eventfd; the count itself is not needed.
  pipe.onread = () => woken()
  pipe.readStart()
  pipe.unref()
  let armed = false
  return {
    arm: () => {
      if (armed) return
      armed = true
      pipe.ref()
    },
    idle: () => {
      if (!armed) return
      armed = false
      pipe.unref()
    },
    // Closing the handle closes the eventfd; the ring lets go of it when the ring closes.
    close: () => pipe.close()
  }
}

/** The worker-thread wake-up for rings without DEFER_TASKRUN. */
export const thread = (queues: Queues, woken: () => void): Wake => {
  let waiting = false
  let closed = false
  return {
    arm: () => {
      if (waiting || closed) return
      waiting = true
      queues.wait(() => {
        waiting = false
        if (!closed) woken()
      })
    },
    idle: () => {},
    close: () => {
      if (closed) return
      closed = true
      // A worker blocked in io_uring_enter must return before the rings go: a NOP wakes it.
      if (waiting && queues.push({ opcode: Opcode.NOP, fd: -1, userData: 0 })) queues.submit()
    }
  }
}
