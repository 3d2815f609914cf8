/**
 * Wine smoke test, run by test/wine/run.sh under Windows Node: building the real Winsock
 * backend's layer (no provider) must fail with a typed `RioUnavailable` whose code is 10045
 * (WSAEOPNOTSUPP), because Wine has no Registered I/O. Anything else — success, another
 * error, a defect, a crash — exits non-zero.
 *
 * Run: wine64 node.exe --import ./test/wine/preload.mjs --import tsx test/wine/smoke.ts
 */
import { KoffiRio } from "@effect-rio/koffi"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const fail = (message: string): never => {
  console.error(`smoke: FAIL: ${message}`)
  process.exit(1)
}

if (process.platform !== "win32") fail(`expected Windows Node, got ${process.platform}`)
console.log(`smoke: node ${process.version} ${process.platform}-${process.arch}`)

// Twice: the second run shows that the first one's scope gave Winsock back (WSACleanup,
// closesocket) and left nothing behind that changes the answer.
for (const attempt of [1, 2]) {
  const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(KoffiRio.layerWindows())))
  if (Exit.isSuccess(exit)) {
    fail(`attempt ${attempt}: the real backend was built, but Wine has no RIO`)
  } else {
    const error = Cause.failureOption(exit.cause)
    if (Option.isNone(error)) fail(`attempt ${attempt}: not a typed failure:\n${Cause.pretty(exit.cause)}`)
    else {
      const { _tag, code, message, operation } = error.value
      console.log(`smoke: attempt ${attempt}: ${_tag} code=${code} operation=${operation}`)
      console.log(`smoke:   ${message}`)
      if (_tag !== "RioUnavailable") fail(`expected RioUnavailable, got ${_tag}`)
      if (code !== 10045) fail(`expected code 10045 (WSAEOPNOTSUPP), got ${code}`)
      if (!message.includes("Registered I/O")) fail("the message does not say what 10045 means")
    }
  }
}
console.log("smoke: OK")
