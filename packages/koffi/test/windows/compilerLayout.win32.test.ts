/**
 * The layout facts against the C compiler: test/wine/run.sh builds test/wine/layout.c with
 * mingw-w64 (or MSVC on a Windows runner) and writes build/layout.json before this runs.
 * Windows-only (`*.win32.test.ts`): the root vitest config leaves it out, test/wine's runs it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { membershipRequest } from "../../src/internal/options.js"
import { Constants } from "../../src/internal/windows/options.js"
import { expected, structs } from "./expectedLayout.js"

const mingwLayoutFile = fileURLToPath(new URL("../../../../test/wine/build/layout.json", import.meta.url))

describe("Windows x64 RIO ABI, from the C compiler", () => {
  it(
    "matches sizeof/offsetof from the C compiler (test/wine/layout.c: mingw-w64 under Wine, or MSVC)",
    () => {
      const mingw = JSON.parse(fs.readFileSync(mingwLayoutFile, "utf8")) as {
        readonly types: Record<string, { size: number; align: number; offsets: Record<string, number> }>
        readonly scalars: Record<string, number>
        readonly constants: Record<string, number | string>
        readonly socketOptions: Record<string, number>
        readonly WSAID_MULTIPLE_RIO: ReadonlyArray<number>
      }
      for (const name of structs) {
        assert.deepStrictEqual<unknown>(mingw.types[name], expected[name], name)
      }
      for (const [name, size] of Object.entries(expected.scalars)) {
        assert.strictEqual(mingw.scalars[name], size, name)
      }
      for (const [name, value] of Object.entries(expected.constants)) {
        const fromC = mingw.constants[name]
        assert.strictEqual(typeof value === "bigint" ? BigInt(fromC as string) : fromC, value, name)
      }
      assert.deepStrictEqual(mingw.WSAID_MULTIPLE_RIO, [...expected.WSAID_MULTIPLE_RIO])
    }
  )

  it("the socket options' levels and numbers, and the membership requests' sizes (ip_mreq, ipv6_mreq)", () => {
    const mingw = JSON.parse(fs.readFileSync(mingwLayoutFile, "utf8")) as {
      readonly socketOptions: Record<string, number>
    }
    // TCP_KEEPALIVE (3) is not in mingw-w64's headers: Microsoft's documentation is its source.
    const { TCP_KEEPALIVE: _, ...fromHeaders } = Constants
    assert.deepStrictEqual(
      {
        ...fromHeaders,
        "sizeof ip_mreq": membershipRequest("239.1.2.3", "127.0.0.1").byteLength,
        "sizeof ipv6_mreq": membershipRequest("ff05::1", undefined).byteLength
      },
      mingw.socketOptions
    )
  })
})
