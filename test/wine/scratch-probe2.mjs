import koffi from "koffi"
import * as Effect from "effect/Effect"
console.log("koffi", koffi.version, process.platform, typeof Effect.succeed, import.meta.url)
