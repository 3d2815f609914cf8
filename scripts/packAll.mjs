// `pnpm pack:all`: builds every published package and packs it, as `pnpm publish` would, into
// build/packs/ (emptied first), then prints the tarballs' paths. These tarballs are how a
// project outside this repository installs effect-rio until the packages are on the registry
// (README, "Install"); the consumer test installs them the same way.
import { spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const destination = join(root, "build", "packs")
rmSync(destination, { recursive: true, force: true })
mkdirSync(destination, { recursive: true })

const pack = spawnSync("pnpm", ["-r", "--filter", "./packages/*", "pack", "--pack-destination", destination], {
  cwd: root,
  encoding: "utf8",
  shell: process.platform === "win32"
})
if (pack.status !== 0) {
  process.stderr.write(pack.stdout + pack.stderr)
  console.error(`pack:all: pnpm pack failed (${pack.error?.message ?? `exit code ${pack.status}`})`)
  process.exit(1)
}
for (const file of readdirSync(destination).sort()) console.log(join(destination, file))
