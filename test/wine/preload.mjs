// Preloaded (`--import`, or NODE_OPTIONS for vitest's child processes) into Windows Node
// running under Wine, to make a pnpm workspace that was installed on Linux loadable.
//
// 1. Symlinks. pnpm links packages (node_modules/koffi -> .pnpm/koffi@…/node_modules/koffi)
//    and resolves their dependencies from the link *target*. Wine shows those Unix
//    symlinks to Windows programs as plain directories, so Node's JS realpath keeps the
//    link path and dependencies such as @koromix/koffi-win32-x64 are not found. Wine's
//    GetFinalPathNameByHandleW does resolve them, and that is fs.realpathSync.native: we
//    route the CommonJS loader's realpath through it and realpath every ESM resolution.
//
// 2. Rollup. vitest starts vite, which parses with rollup's native addon; the lockfile has
//    no @rollup/rollup-win32-x64-msvc, so under Windows Node `rollup` is redirected to the
//    WebAssembly build of the same rollup release that .ci/wine-setup.sh unpacked into
//    the cache (EFFECT_RIO_WINE_ROLLUP). Not used when that variable is unset.
//
// Only for running tests under Wine: nothing here is needed on a real Windows machine
// whose node_modules was installed there.
import fs from "node:fs"
import { register } from "node:module"
import { pathToFileURL } from "node:url"

const nativeRealpath = fs.realpathSync.native

function realpathSync(path, options) {
  const encoding = typeof options === "string" ? options : options?.encoding
  return nativeRealpath(path, encoding === undefined ? undefined : { encoding })
}
realpathSync.native = nativeRealpath
fs.realpathSync = realpathSync

const rollupDir = process.env.EFFECT_RIO_WINE_ROLLUP
const rollupParent = rollupDir !== undefined && rollupDir !== "" && fs.existsSync(`${rollupDir}/node_modules/rollup`)
  ? pathToFileURL(`${rollupDir}/index.mjs`).href
  : null

register(
  "data:text/javascript," + encodeURIComponent(`
import fs from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"

const rollupParent = ${JSON.stringify(rollupParent)}

export async function resolve(specifier, context, nextResolve) {
  if (rollupParent !== null && (specifier === "rollup" || specifier.startsWith("rollup/"))) {
    context = { ...context, parentURL: rollupParent }
  }
  const result = await nextResolve(specifier, context)
  if (result.url.startsWith("file:")) {
    try {
      return { ...result, url: pathToFileURL(fs.realpathSync.native(fileURLToPath(result.url))).href }
    } catch {
      // Not on disk (yet): leave it to the loader to report.
    }
  }
  return result
}
`)
)
