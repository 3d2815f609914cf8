import fs from "node:fs"
import { register } from "node:module"
const native = fs.realpathSync.native
const patched = (p, options) => native(p, typeof options === "string" ? options : options?.encoding ? { encoding: options.encoding } : undefined)
patched.native = native
fs.realpathSync = patched
const data = `
import fs from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context)
  if (r.url.startsWith("file:")) {
    try { const real = pathToFileURL(fs.realpathSync.native(fileURLToPath(r.url))).href; return { ...r, url: real } } catch {}
  }
  return r
}`
register("data:text/javascript," + encodeURIComponent(data))
