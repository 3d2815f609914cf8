/**
 * The repo root, found from the running file: the bench runs both from its sources (tsx) and
 * bundled into bench/build, so a path relative to `import.meta.url` means two places.
 */
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

/** The nearest directory above the running file that holds bench/net/loadgen.c. */
export const findRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, "bench", "net", "loadgen.c"))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error("bench: cannot find the repo root from " + import.meta.url)
    dir = parent
  }
  return dir
}
