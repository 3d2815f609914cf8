/**
 * The conformance suite's backends on Windows Node, substituted for `./backends.js` by
 * test/wine/vitest.config.ts (used under Wine by test/wine/run.sh and on a real Windows
 * runner by .github/workflows/windows.yml): the project's own list, where under Wine the
 * system RIO is reported skipped (Wine answers WSAEOPNOTSUPP), plus the Winsock driver over
 * the reference RIO provider (test/wine/rio_reference.c), through `KoffiRio.layerWindows`'s
 * ABI-test seam.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { fileURLToPath } from "node:url"
import { candidates, probe } from "../conformance/backends.js"

const provider = process.env.EFFECT_RIO_WINDOWS_PROVIDER ??
  fileURLToPath(new URL("./build/rio_reference.dll", import.meta.url))

export const backends = await probe([
  ...candidates,
  { name: "winsock (reference RIO provider)", layer: KoffiRio.layerWindows({ provider }) }
])
