/**
 * The Windows x64 RIO ABI, pinned three ways: the literals below (from Microsoft's
 * mswsockdef.h/mswsock.h documentation), Koffi's view of our definitions (`layout`), and —
 * when `test/wine/run.sh` has produced it — the output of `test/wine/layout.c` compiled by
 * mingw-w64 and run under Wine. Koffi's sizes for fixed-width types are the same on Linux
 * x64 and Windows x64, so this file runs everywhere.
 */
import { assert, describe, it } from "@effect/vitest"
import koffi from "koffi"
import * as Abi from "../../src/internal/windows/abi.js"
import { expected, expectedPrototypes, structs } from "./expectedLayout.js"

describe("Windows x64 RIO ABI", () => {
  for (const name of structs) {
    it(`${name}: size, alignment and offsets`, () => {
      assert.deepStrictEqual(Abi.layout[name], expected[name])
    })
  }

  it("ULONG/DWORD/LONG/BOOL are 32-bit and handles are pointer-sized", () => {
    assert.deepStrictEqual(Abi.layout.scalars, expected.scalars)
  })

  it("the function table lists the 13 functions in mswsock.h order after cbSize", () => {
    assert.deepStrictEqual(Object.keys(Abi.layout.RIO_EXTENSION_FUNCTION_TABLE.offsets), [
      "cbSize",
      ...Abi.functionNames
    ])
    assert.deepStrictEqual<ReadonlyArray<string>>(Abi.functionNames, Object.keys(expectedPrototypes))
  })

  it("each prototype has the documented parameter and result widths", () => {
    assert.deepStrictEqual(Abi.layout.prototypes, expectedPrototypes)
  })

  it("WSAID_MULTIPLE_RIO encodes to the bytes WSAIoctl expects", () => {
    assert.deepStrictEqual(Abi.layout.WSAID_MULTIPLE_RIO, [...expected.WSAID_MULTIPLE_RIO])
  })

  it("constants, including RIO_INVALID_BUFFERID = (ULONG_PTR)0xFFFFFFFF (not -1, not 0)", () => {
    assert.deepStrictEqual(Abi.layout.constants, expected.constants)
    assert.notStrictEqual(Abi.RIO_INVALID_BUFFERID, 0xFFFFFFFFFFFFFFFFn)
    assert.notStrictEqual(Abi.RIO_INVALID_BUFFERID, 0n)
  })

  it("a RIO_BUF encodes to the 16 bytes the C compiler lays out", () => {
    const bytes = new Uint8Array(16)
    koffi.encode(bytes, Abi.RIO_BUF, { BufferId: 0x1122334455667788n, Offset: 0xAABBCCDD, Length: 7 })
    assert.deepStrictEqual(
      Array.from(bytes),
      [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xDD, 0xCC, 0xBB, 0xAA, 7, 0, 0, 0]
    )
  })
})
