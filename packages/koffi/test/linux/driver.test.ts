import * as BufferId from "@effect-rio/core/BufferId"
import type { Driver, NativeMemory } from "@effect-rio/core/Driver"
import * as RioError from "@effect-rio/core/RioError"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import koffi from "koffi"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as LinuxDriver from "../../src/internal/linux/driver.js"
import * as Libc from "../../src/internal/linux/libc.js"
import * as Uring from "../../src/internal/linux/uring.js"
import { readVmPinKiB } from "../../src/internal/linux/vmpin.js"

const KiB = 1024
const root = fileURLToPath(new URL("../../../../", import.meta.url))
const childScript = fileURLToPath(new URL("./fixtures/memlock-child.ts", import.meta.url))

const allocate = (driver: Driver, byteLength: number): NativeMemory => {
  const memory = driver.allocate(byteLength)
  if (!("bytes" in memory)) throw new Error(`allocate failed: ${memory.message}`)
  return memory
}

const registered = (result: ReturnType<Driver["register"]>): BufferId.BufferId => {
  if (typeof result !== "number") throw new Error(`register failed: ${result._tag} ${result.message}`)
  return result
}

const pagesCovered = (address: bigint, length: number, pageSize: number): number => {
  const page = BigInt(pageSize)
  const first = address / page
  const last = (address + BigInt(length) - 1n) / page
  return Number(last - first + 1n)
}

/**
 * Whether `address` lies in a mapping of the allocator, as /proc/self/smaps shows it: the
 * allocator marks its mappings MADV_NOHUGEPAGE ("nh" in VmFlags), which tells one apart from
 * a mapping the kernel may place at the same address once it is gone.
 */
const allocatorMapped = (address: bigint): boolean =>
  fs.readFileSync("/proc/self/smaps", "utf8").split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).some((mapping) => {
    const [start, end] = mapping.slice(0, mapping.indexOf(" ")).split("-").map((hex) => BigInt(`0x${hex}`))
    return start! <= address && address < end! && /^VmFlags:.*\bnh\b/m.test(mapping)
  })

const unmappedAddress = (): bigint => {
  const libc = Libc.load()
  const address = libc.mmap(2 * 4096, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS)
  libc.munmap(address, 2 * 4096)
  return address
}

describe("io_uring layouts and constants", () => {
  it("match linux/io_uring.h on LP64", () => {
    assert.strictEqual(koffi.sizeof(Uring.IoUringParams), 120)
    assert.strictEqual(koffi.offsetof(Uring.IoUringParams, "features"), 20)
    assert.strictEqual(koffi.offsetof(Uring.IoUringParams, "sq_off"), 40)
    assert.strictEqual(koffi.offsetof(Uring.IoUringParams, "cq_off"), 80)
    assert.strictEqual(koffi.sizeof(Uring.IoSqringOffsets), 40)
    assert.strictEqual(koffi.sizeof(Uring.IoCqringOffsets), 40)

    assert.strictEqual(koffi.sizeof(Uring.IoUringRsrcRegister), 32)
    assert.deepStrictEqual(
      ["nr", "flags", "resv2", "data", "tags"].map((field) => koffi.offsetof(Uring.IoUringRsrcRegister, field)),
      [0, 4, 8, 16, 24]
    )
    assert.strictEqual(koffi.sizeof(Uring.IoUringRsrcUpdate2), 32)
    assert.deepStrictEqual(
      ["offset", "resv", "data", "tags", "nr", "resv2"].map((field) => koffi.offsetof(Uring.IoUringRsrcUpdate2, field)),
      [0, 4, 8, 16, 24, 28]
    )
    assert.strictEqual(koffi.sizeof(Uring.Iovec), 16)
    assert.strictEqual(koffi.offsetof(Uring.Iovec, "len"), 8)

    assert.strictEqual(Libc.SYS_io_uring_setup, 425)
    assert.strictEqual(Libc.SYS_io_uring_register, 427)
    assert.strictEqual(Uring.IORING_UNREGISTER_BUFFERS, 1)
    assert.strictEqual(Uring.IORING_REGISTER_BUFFERS2, 15)
    assert.strictEqual(Uring.IORING_REGISTER_BUFFERS_UPDATE, 16)
    assert.strictEqual(Uring.IORING_RSRC_REGISTER_SPARSE, 1)
    assert.strictEqual(Uring.MAX_BUFFER_LENGTH, 2 ** 30)
    assert.strictEqual(Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS, 0x22)
    assert.strictEqual(Libc.MADV_NOHUGEPAGE, 15)
    assert.strictEqual(Libc.RLIMIT_MEMLOCK, 8)
  })

  it("the kernel caps a sparse table at IORING_MAX_REG_BUFFERS slots", () => {
    const libc = Libc.load()
    const tooMany = Uring.Ring.open(libc, Uring.IORING_MAX_REG_BUFFERS + 1)
    assert.deepStrictEqual(tooMany, { _tag: "RingFailure", stage: "IORING_REGISTER_BUFFERS2", errno: 22 })
    const ring = Uring.Ring.open(libc, Uring.IORING_MAX_REG_BUFFERS)
    if (!(ring instanceof Uring.Ring)) return assert.fail(`sparse table of 16384 failed: errno ${ring.errno}`)
    assert.isTrue(ring.isOpen)
    ring.close()
    assert.isFalse(ring.isOpen)
  })

  it("sysconf agrees with libc on the page size", () => {
    assert.strictEqual(Libc.load().pageSize(), 4096)
  })
})

describe("LinuxDriver.make", () => {
  it.scoped("describes the io_uring backend", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 8 })
      assert.strictEqual(driver.backend, "io_uring")
      assert.strictEqual(driver.pageSize, Libc.load().pageSize())
      assert.strictEqual(driver.maxBufferLength, 1024 * 1024 * 1024)
      assert.strictEqual(
        driver.maxBufferLengthReason,
        "io_uring limits one registered buffer to 1 GiB; Windows RIO does not"
      )
    }))

  it.effect("an operation started after the layer closed ends with an error, and the process goes on", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const driver = yield* Scope.extend(LinuxDriver.make({ slots: 8 }), scope)
      const net = driver.net!
      const socket = net.udp({ host: "127.0.0.1", port: 0 }, [])
      if (socket instanceof Error) return assert.fail(socket.message)
      const memory = new Uint8Array(64)
      const region = { bufferId: BufferId.unsafeMake(0), offset: 0, length: 64, base: 0, memory }
      yield* Scope.close(scope, Exit.void)
      const results = yield* Effect.all([
        Effect.async<unknown>((resume) => {
          net.receiveFrom(socket, region, (result) => resume(Effect.succeed(result))).cancel()
        }),
        // Two sends in one turn: each ends by itself (a record reused too early once lost one).
        Effect.async<unknown>((resume) => {
          net.sendTo(socket, region, { host: "127.0.0.1", port: 9 }, (result) => resume(Effect.succeed(result)))
        }),
        Effect.async<unknown>((resume) => {
          net.sendTo(socket, region, { host: "127.0.0.1", port: 9 }, (result) => resume(Effect.succeed(result)))
        })
      ], { concurrency: "unbounded" })
      for (const result of results) {
        assert.instanceOf(result, RioError.RioSystemError)
        assert.strictEqual((result as RioError.RioSystemError).code, 10009, "EBADF: the ring is closed")
      }
      net.close(socket)
    }))

  it.scoped("the kernel's EAFNOSUPPORT (an IPv6 peer for an IPv4 socket, past the core's own check) is WSAEAFNOSUPPORT", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 8 })
      const net = driver.net!
      const socket = net.udp({ host: "127.0.0.1", port: 0 }, [])
      if (socket instanceof Error) return assert.fail(socket.message)
      const memory = new Uint8Array(64)
      const address = driver.addressOf(memory)
      const id = driver.register(address, 64)
      if (typeof id !== "number") return assert.fail(id.message)
      const region = { bufferId: id, offset: 0, length: 8, base: Number(address), memory }
      const result = yield* Effect.async<unknown>((resume) => {
        net.sendTo(socket, region, { host: "::1", port: 9 }, (outcome) => resume(Effect.succeed(outcome)))
      })
      assert.instanceOf(result, RioError.WSAEAFNOSUPPORT)
      assert.strictEqual((result as RioError.WSAEAFNOSUPPORT).code, 10047)
      assert.include((result as RioError.WSAEAFNOSUPPORT).message, "errno 97")
      net.close(socket)
      assert.isUndefined(driver.deregister(id))
    }))

  it.effect("rejects a table size the kernel cannot have", () =>
    Effect.gen(function*() {
      for (const slots of [0, 16385, 1.5]) {
        const error = yield* Effect.flip(Effect.scoped(LinuxDriver.make({ slots })))
        assert.instanceOf(error, RioError.RioUnavailable)
        assert.strictEqual(error.code, 10022)
        assert.include(error.message, "1 to 16384")
      }
    }))

  it.effect("closing the scope releases pinned pages at once", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const driver = yield* Scope.extend(LinuxDriver.make({ slots: 4 }), scope)
      const memory = allocate(driver, 256 * KiB)
      const before = readVmPinKiB()
      const id = registered(driver.register(memory.address, 256 * KiB))
      assert.strictEqual(readVmPinKiB() - before, 256)
      yield* Scope.close(scope, Exit.void)
      // Synchronous IORING_UNREGISTER_BUFFERS: no waiting for the kernel's exit worker.
      assert.strictEqual(readVmPinKiB(), before)

      const late = driver.register(memory.address, 4096)
      assert.instanceOf(late, RioError.RioSystemError)
      assert.strictEqual((late as RioError.RioSystemError).code, 10009)
      assert.include((late as RioError.RioSystemError).message, "closed")
      // The registration went with the ring; deregistering it is not an error.
      assert.isUndefined(driver.deregister(id))
      driver.free(memory)
    }))
})

describe("register and deregister", () => {
  it.scoped("pinning 64 KiB raises VmPin by 64 kB and deregistering returns it", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const memory = allocate(driver, 64 * KiB)
      const before = readVmPinKiB()
      const id = registered(driver.register(memory.address, 64 * KiB))
      assert.strictEqual(readVmPinKiB() - before, 64)
      assert.isUndefined(driver.deregister(id))
      assert.strictEqual(readVmPinKiB(), before)
      driver.free(memory)
    }))

  it.scoped("registers a tiny heap Uint8Array at a stable address", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const bytes = new Uint8Array(16)
      const address = driver.addressOf(bytes)
      assert.notStrictEqual(address, 0n)
      assert.strictEqual(driver.addressOf(bytes), address)
      assert.strictEqual(koffi.address(bytes.buffer), address)
      const sub = bytes.subarray(5)
      assert.strictEqual(driver.addressOf(sub), address + 5n)

      const before = readVmPinKiB()
      const id = registered(driver.register(address, 16))
      const delta = readVmPinKiB() - before
      // Malloc'd memory may sit in a transparent huge page, which io_uring pins whole.
      assert.isAtLeast(delta, pagesCovered(address, 16, driver.pageSize) * 4)
      assert.isUndefined(driver.deregister(id))
      assert.strictEqual(readVmPinKiB(), before)
    }))

  it.scoped("a null or unmapped address is WSAEFAULT with the errno", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      for (const address of [0n, unmappedAddress()]) {
        const error = driver.register(address, 4096)
        assert.instanceOf(error, RioError.WSAEFAULT)
        const fault = error as RioError.WSAEFAULT
        assert.strictEqual(fault.code, 10014)
        assert.strictEqual(fault.operation, "RIORegisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)")
        assert.deepStrictEqual(fault.cause, { errno: 14 })
        assert.include(fault.message, "allocate()")
      }
      // A failed registration must not use up a slot.
      const memory = allocate(driver, 4096)
      assert.strictEqual(registered(driver.register(memory.address, 4096)), 0)
    }))

  it.scoped("maps the kernel's other refusals to typed errors", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const memory = allocate(driver, 4096)

      // The kernel says EFAULT for > 1 GiB; the driver answers like the core's limit check.
      const tooLong = driver.register(memory.address, 2 ** 30 + 1)
      assert.instanceOf(tooLong, RioError.WSAEINVAL)
      assert.deepStrictEqual((tooLong as RioError.WSAEINVAL).cause, { errno: 14 })
      assert.include((tooLong as RioError.WSAEINVAL).message, "1 GiB; Windows RIO does not")

      const wraps = driver.register(0xFFFF_FFFF_FFFF_F000n, 8192)
      assert.instanceOf(wraps, RioError.WSAEFAULT)
      assert.deepStrictEqual((wraps as RioError.WSAEFAULT).cause, { errno: 75 })

      // (0, 0) would silently clear a slot in the kernel; it must never look like a registration.
      assert.instanceOf(driver.register(0n, 0), RioError.WSAEINVAL)
      assert.instanceOf(driver.register(memory.address, 0), RioError.WSAEINVAL)

      const unknown = driver.deregister(BufferId.unsafeMake(3))
      assert.instanceOf(unknown, RioError.WSAEINVAL)
      assert.instanceOf(driver.deregister(BufferId.unsafeMake(99)), RioError.WSAEINVAL)
      assert.instanceOf(driver.deregister(BufferId.unsafeMake(-1)), RioError.WSAEINVAL)

      const id = registered(driver.register(memory.address, 4096))
      assert.isUndefined(driver.deregister(id))
      assert.instanceOf(driver.deregister(id), RioError.WSAEINVAL)
    }))

  it.scoped("hands out the lowest free slot, reusing one only after release", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 64 })
      const memory = allocate(driver, 4096)
      const ids = Array.from({ length: 40 }, () => registered(driver.register(memory.address, 4096)))
      assert.deepStrictEqual(ids, Array.from({ length: 40 }, (_, i) => i))
      for (const id of [33, 7, 20]) assert.isUndefined(driver.deregister(BufferId.unsafeMake(id)))
      assert.strictEqual(registered(driver.register(memory.address, 4096)), 7)
      assert.strictEqual(registered(driver.register(memory.address, 4096)), 20)
      assert.strictEqual(registered(driver.register(memory.address, 4096)), 33)
      assert.strictEqual(registered(driver.register(memory.address, 4096)), 40)
    }))

  it.scoped("a full table is WSAENOBUFS naming its size, and frees up on release", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 3 })
      const memory = allocate(driver, 4096)
      for (let i = 0; i < 3; i++) registered(driver.register(memory.address, 4096))
      const full = driver.register(memory.address, 4096)
      assert.instanceOf(full, RioError.WSAENOBUFS)
      assert.strictEqual((full as RioError.WSAENOBUFS).code, 10055)
      assert.include((full as RioError.WSAENOBUFS).message, "table is full")
      assert.include((full as RioError.WSAENOBUFS).message, "all 3 slots")
      assert.isUndefined(driver.deregister(BufferId.unsafeMake(1)))
      assert.strictEqual(registered(driver.register(memory.address, 4096)), 1)
    }))

  it.effect("RLIMIT_MEMLOCK exhaustion is WSAENOBUFS naming the limit, without CAP_IPC_LOCK", () =>
    Effect.sync(() => {
      // Root has CAP_IPC_LOCK, which lifts the limit, so the check runs as nobody.
      const isRoot = process.getuid?.() === 0
      const command = isRoot ? "setpriv" : "sh"
      const shell = ["-c", "ulimit -l 8192 && exec \"$0\" \"$@\"", process.execPath, "--import", "tsx", childScript]
      const args = isRoot ? ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", ...shell] : shell
      const child = spawnSync(command, args, {
        cwd: root,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
        encoding: "utf8",
        timeout: 60_000
      })
      assert.strictEqual(child.status, 0, `child failed: ${child.error?.message ?? ""} ${child.stderr}`)
      const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!)
      if (isRoot) assert.strictEqual(result.uid, 65534)
      assert.strictEqual(result.limitBytes, 8192 * KiB)
      assert.strictEqual(result.tooMuch.tag, "WSAENOBUFS")
      assert.strictEqual(result.tooMuch.code, 10055)
      assert.strictEqual(result.tooMuch.operation, "RIORegisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)")
      assert.deepStrictEqual(result.tooMuch.cause, { errno: 12 })
      assert.include(result.tooMuch.message, "RLIMIT_MEMLOCK is 8192 KiB")
      assert.include(result.tooMuch.message, "ulimit -l")
      assert.include(result.tooMuch.message, "/etc/security/limits.conf")
      assert.include(result.tooMuch.message, "LimitMEMLOCK")
      assert.include(result.tooMuch.message, "kernel")
      assert.strictEqual(result.pinnedAfterFailure, 0)
      assert.deepStrictEqual(result.smaller, { id: 0 })
      assert.strictEqual(result.pinnedKiB, 2048)
      assert.strictEqual(result.deregistered, "ok")
      assert.strictEqual(result.pinnedAfterDeregister, 0)
    }))
})

describe("allocate and free", () => {
  it.scoped("allocates page-aligned, zeroed memory of exactly the length asked", () =>
    Effect.gen(function*() {
      const driver = yield* LinuxDriver.make({ slots: 4 })
      const memory = allocate(driver, 5000)
      assert.strictEqual(memory.bytes.byteLength, 5000)
      assert.strictEqual(memory.address % BigInt(driver.pageSize), 0n)
      assert.strictEqual(driver.addressOf(memory.bytes), memory.address)
      assert.isTrue(memory.bytes.every((byte) => byte === 0))
      // The mapping is rounded to whole pages: registering all of them pins two.
      const before = readVmPinKiB()
      const id = registered(driver.register(memory.address, 2 * driver.pageSize))
      assert.strictEqual(readVmPinKiB() - before, 8)
      assert.isUndefined(driver.deregister(id))
      driver.free(memory)
    }))

  it.live("a stale view reads zeros, never crashes, and the mapping goes once the view is collected", () =>
    Effect.gen(function*() {
      const driver = yield* Effect.scoped(LinuxDriver.make({ slots: 4 }))
      // In a function of its own so that nothing keeps the view reachable afterwards.
      const touchAfterFree = () => {
        const memory = allocate(driver, 3 * 4096 + 100)
        memory.bytes.fill(0xAB)
        driver.free(memory)
        const zeros = memory.bytes.every((byte) => byte === 0)
        memory.bytes[4096] = 7
        driver.free(memory)
        return { zeros, written: memory.bytes[4096], mapped: allocatorMapped(memory.address), address: memory.address }
      }
      const { address, ...touched } = touchAfterFree()
      assert.deepStrictEqual(touched, { zeros: true, written: 7, mapped: true })

      v8.setFlagsFromString("--expose-gc")
      const gc = vm.runInNewContext("gc") as () => void
      yield* Effect.promise(async () => {
        for (let i = 0; i < 100 && allocatorMapped(address); i++) {
          gc()
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })
      assert.isFalse(allocatorMapped(address), "the mapping outlived its collected view")
    }))
})
