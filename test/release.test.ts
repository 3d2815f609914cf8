/**
 * What a release promises about each published package, checked on every run so that main
 * stays releasable: its version is at least every `@since` in its sources, its changelog has
 * an entry for that version, its tarball carries the repository's LICENSE, its metadata points
 * at the repository, and its peer ranges exclude what does not work (effect 4, another 0.x
 * line of an @effect package).
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const read = (...path: Array<string>) => readFileSync(join(root, ...path), "utf8")

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly files: ReadonlyArray<string>
  readonly repository?: { readonly url: string; readonly directory: string }
  readonly bugs?: { readonly url: string }
  readonly homepage?: string
  readonly peerDependencies?: Record<string, string>
  readonly dependencies?: Record<string, string>
}

const packageDirs = readdirSync(join(root, "packages")).sort()
const manifests = packageDirs.map((dir) => ({
  dir,
  manifest: JSON.parse(read("packages", dir, "package.json")) as Manifest
}))

/** Orders two x.y.z versions: negative, zero or positive. */
const compareVersions = (a: string, b: string): number => {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)]
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return 0
}

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => join(entry.parentPath, entry.name))

describe("release metadata", () => {
  it("finds the four published packages", () => {
    assert.deepStrictEqual(manifests.map(({ manifest }) => manifest.name), [
      "@effect-rio/core",
      "@effect-rio/koffi",
      "@effect-rio/platform",
      "@effect-rio/testing"
    ])
  })

  for (const { dir, manifest } of manifests) {
    describe(manifest.name, () => {
      it("its version is at least every @since in its sources", () => {
        const sinces = sourceFiles(join(root, "packages", dir, "src")).flatMap((file) =>
          [...readFileSync(file, "utf8").matchAll(/@since (\d+\.\d+\.\d+)/g)].map((match) => match[1]!)
        )
        assert.isAbove(sinces.length, 0)
        const newer = sinces.filter((since) => compareVersions(since, manifest.version) > 0)
        assert.deepStrictEqual([...new Set(newer)], [], `@since newer than ${manifest.version}`)
      })

      it("its CHANGELOG.md has an entry for its version", () => {
        const changelog = read("packages", dir, "CHANGELOG.md")
        assert.isTrue(changelog.startsWith(`# ${manifest.name}\n`))
        assert.include(changelog.split("\n"), `## ${manifest.version}`)
      })

      it("its tarball carries the repository's LICENSE, its README and its changelog", () => {
        assert.strictEqual(read("packages", dir, "LICENSE"), read("LICENSE"))
        for (const file of ["dist", "LICENSE", "README.md", "CHANGELOG.md"]) assert.include(manifest.files, file)
      })

      it("its metadata points at the repository", () => {
        const repository = JSON.parse(read("packages", "core", "package.json")).repository as Manifest["repository"]
        assert.deepStrictEqual(manifest.repository, { ...repository!, directory: `packages/${dir}` })
        assert.strictEqual(manifest.bugs?.url, repository!.url.replace(/^git\+/, "").replace(/\.git$/, "/issues"))
        assert.isTrue(manifest.homepage?.endsWith(`/tree/main/packages/${dir}#readme`))
      })

      it("its peer ranges stay on effect 3 and on one 0.x line of each @effect package", () => {
        for (const [name, range] of Object.entries(manifest.peerDependencies ?? {})) {
          const allowed = name === "effect" ? /^\^3\.\d+\.\d+$/ : /^[\^~]0\.\d+\.\d+$/
          assert.match(range, allowed, `${name}: ${range}`)
        }
        for (const [name, range] of Object.entries(manifest.dependencies ?? {})) {
          if (name.startsWith("@effect-rio/")) assert.strictEqual(range, "workspace:^", name)
        }
      })
    })
  }
})
