/**
 * `KoffiRio.layerLinux()` at its limits: a full buffer table, and an ordinary user's memlock
 * limit (`ulimit -l`), each refused with `WSAENOBUFS` naming it and leaving nothing pinned.
 */
import { BufferPool, RegisteredIo, RioError } from "@effect-rio/core"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { spawnSync } from "node:child_process"
import * as KoffiRio from "../../src/KoffiRio.js"
import { assertBackTo, childScript, MiB, root, snapshot } from "./layerParts.js"

layer(KoffiRio.layerLinux({ slots: 4 }))("KoffiRio.layerLinux({ slots: 4 })", (it) => {
  it.effect("the 5th live registration is WSAENOBUFS naming the table size; a released slot is reused", () =>
    Effect.gen(function*() {
      const start = yield* snapshot
      yield* Effect.scoped(Effect.gen(function*() {
        const released = yield* Scope.make()
        const first = yield* Scope.extend(RegisteredIo.registerBuffer(new Uint8Array(64)), released)
        for (let i = 0; i < 3; i++) yield* RegisteredIo.registerBuffer(new Uint8Array(64))
        const afterFour = yield* snapshot

        const full = yield* Effect.flip(RegisteredIo.registerBuffer(new Uint8Array(64)))
        assert.instanceOf(full, RioError.WSAENOBUFS)
        assert.strictEqual(full.code, 10055)
        assert.include(full.message, "table is full")
        assert.include(full.message, "all 4 slots")
        // The pool's allocation is freed again when its registration cannot get a slot.
        const pool = yield* Effect.flip(Effect.scoped(BufferPool.make({ slotSize: 512, slots: 8 })))
        assert.instanceOf(pool, RioError.WSAENOBUFS)
        yield* assertBackTo(afterFour, "after the refused registrations")

        yield* Scope.close(released, Exit.void)
        const again = yield* RegisteredIo.registerBuffer(new Uint8Array(64))
        assert.strictEqual(again.id, first.id)
        assert.strictEqual((yield* snapshot).stats.registeredBuffers, 4)
      }))
      yield* assertBackTo(start, "after the scope")
    }))
})

describe("as an ordinary user (no CAP_IPC_LOCK, ulimit -l 8192)", () => {
  it("16 MiB is WSAENOBUFS naming the limit, leaks nothing, and 1 MiB then works", () => {
    // Root has CAP_IPC_LOCK, which lifts RLIMIT_MEMLOCK, so the child runs as nobody.
    const isRoot = process.getuid?.() === 0
    const shell = ["-c", "ulimit -l 8192 && exec \"$0\" \"$@\"", process.execPath, "--import", "tsx", childScript]
    const child = spawnSync(
      isRoot ? "setpriv" : "sh",
      isRoot ? ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", ...shell] : shell,
      { cwd: root, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, encoding: "utf8", timeout: 60_000 }
    )
    assert.strictEqual(child.status, 0, `child failed: ${child.error?.message ?? ""} ${child.stderr}`)
    const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!)
    if (isRoot) assert.strictEqual(result.uid, 65534)

    for (const step of ["allocated", "registered"] as const) {
      const failure = result[step]
      assert.strictEqual(failure.ok, false, `${step}: 16 MiB was pinned beyond an 8 MiB limit`)
      assert.strictEqual(failure.tag, "WSAENOBUFS", `${step}: ${failure.message}`)
      assert.strictEqual(failure.code, 10055)
      assert.strictEqual(failure.operation, "RIORegisterBuffer (IORING_REGISTER_BUFFERS_UPDATE)")
      assert.deepStrictEqual(failure.cause, { errno: 12 })
      assert.include(failure.message, "RLIMIT_MEMLOCK is 8192 KiB")
      assert.include(failure.message, "ulimit -l")
    }
    // A refused registration leaves no pin, no slot and no counted byte behind.
    assert.deepStrictEqual(result.start.stats, { registeredBuffers: 0, registeredBytes: 0, lockedPages: 0 })
    assert.deepStrictEqual(result.afterAllocate, result.start)
    assert.deepStrictEqual(result.afterRegister, result.start)

    assert.strictEqual(result.smaller.ok, true, `1 MiB after the failures: ${result.smaller.message}`)
    // Slot 0: the refused registrations did not keep a slot of the table either.
    assert.strictEqual(result.smaller.value.id, 0)
    assert.strictEqual(result.smaller.value.vmPinKiB - result.start.vmPinKiB, 1024)
    assert.deepStrictEqual(result.smaller.value.stats, {
      registeredBuffers: 1,
      registeredBytes: MiB,
      lockedPages: MiB / result.pageSize
    })
    assert.deepStrictEqual(result.afterSmaller, result.start)
  })
})
