/**
 * The conformance suite's backends on Windows Node, substituted for `./backends.js` by
 * test/wine/vitest.config.ts (used under Wine by test/wine/run.sh and on a real Windows
 * runner by .github/workflows/windows.yml): the project's own list, where under Wine the
 * system RIO is reported skipped (Wine answers WSAEOPNOTSUPP), plus the Winsock driver over
 * the reference RIO provider (test/wine/rio_reference.c), through the internal driver's
 * ABI-test seam (`RegisteredIo.layerDriver(WindowsDriver.make({ provider }))`).
 */
import { providerLayer } from "../../packages/koffi/test/windows/reference.js"
import { isWine } from "../../packages/koffi/test/windows/win32.js"
import { candidates, probe } from "../conformance/backends.js"

export const backends = await probe([
  ...candidates,
  {
    name: "winsock (reference RIO provider)",
    layer: providerLayer(),
    sockets: {
      withCompletionQueue: (size) => providerLayer({ completionQueueSize: size }),
      sendsWait: "RIOSend has no form that stops short: a send waits until the peer has room",
      truncatedSizeUnknown: "RIOReceiveEx reports only the bytes that fit the slice",
      // Checked with a plain Winsock program (no RIO) under Wine 10: closesocket of a stream
      // with 199 unread bytes, even after SO_LINGER {1, 0}, reaches the peer as a FIN.
      ...(isWine()
        ? { cannotReset: "Wine's closesocket never resets a TCP connection (the peer sees FIN)" }
        : { fullBacklogRefuses: "Windows refuses a connect when the backlog is full (Linux lets it wait)" })
    }
  }
])
