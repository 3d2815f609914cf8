/**
 * A vitest reporter that ends the run with every skip and its reason, so that "136 skipped"
 * never stands alone. Every skip in this project carries its reason in a title, as
 * `<name> — skipped: <reason>` (a whole backend in its suite's title, one case in its own);
 * skips are grouped by that title. A skip without one is listed as such: it is a bug.
 */
import type { Reporter, TestCase, TestModule, TestSuite, Vitest } from "vitest/node"

const marker = " — skipped: "

/** The outermost title on the way from a test up to its module that names a reason. */
const reasonOf = (test: TestCase): string | undefined => {
  let node: TestCase | TestSuite | TestModule = test
  let reason: string | undefined
  while (node.type !== "module") {
    if (node.name.includes(marker)) reason = node.name
    node = node.parent
  }
  return reason
}

export class SkipReasons implements Reporter {
  /** Under `-t` (a name filter), the tests it leaves out are skipped too: say so instead. */
  private filtered = false

  onInit(vitest: Vitest): void {
    this.filtered = vitest.config.testNamePattern !== undefined
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const groups = new Map<string, number>()
    for (const module of testModules) {
      for (const test of module.children.allTests("skipped")) {
        // Under -t every test the filter left out counts in one line; otherwise each is named.
        const title = reasonOf(test) ??
          (this.filtered
            ? "not selected by the name filter (-t)"
            : `${test.fullName} — skipped WITHOUT a reason (${module.moduleId})`)
        groups.set(title, (groups.get(title) ?? 0) + 1)
      }
    }
    if (groups.size === 0) return
    const lines = [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([title, count]) => `  ${count} × ${title}`)
    process.stdout.write(`\n Skipped, with their reasons:\n${lines.join("\n")}\n\n`)
  }
}
