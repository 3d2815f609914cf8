/**
 * The conformance suite's backends on Windows Node, substituted for `./backends.js` by
 * test/wine/vitest.config.ts (used under Wine by test/wine/run.sh and on a real Windows
 * runner by .github/workflows/windows.yml): the project's own list, where under Wine the
 * system RIO is reported skipped (Wine answers WSAEOPNOTSUPP), plus the Winsock driver over
 * the reference RIO provider (test/wine/rio_reference.c), through `KoffiRio.layerWindows`'s
 * ABI-test seam.
 */
import { KoffiRio } from "@effect-rio/koffi"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { candidates, probe } from "../conformance/backends.js"

const provider = process.env.EFFECT_RIO_WINDOWS_PROVIDER ??
  fileURLToPath(new URL("./build/rio_reference.dll", import.meta.url))

/** Wine installs its own winecfg.exe in system32; Windows has none. */
const underWine = (): boolean => existsSync(join(process.env.SystemRoot ?? "C:\\Windows", "System32", "winecfg.exe"))

export const backends = await probe([
  ...candidates,
  {
    name: "winsock (reference RIO provider)",
    layer: KoffiRio.layerWindows({ provider }),
    sockets: {
      withCompletionQueue: (size) => KoffiRio.layerWindows({ provider, completionQueueSize: size }),
      // Checked with a plain Winsock program (no RIO) under Wine 10: closesocket of a stream
      // with 199 unread bytes, even after SO_LINGER {1, 0}, reaches the peer as a FIN.
      ...(underWine() ? { cannotReset: "Wine's closesocket never resets a TCP connection (the peer sees FIN)" } : {})
    }
  }
])
