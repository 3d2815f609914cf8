/**
 * Markdown tables for the report page: cells are escaped so that a server's name or a skip
 * reason cannot break the table.
 */

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ")

/** A GitHub-flavoured Markdown table; `right` lists the columns (by index) of figures, aligned right. */
export const markdownTable = (
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  right: ReadonlyArray<number> = []
): string => {
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map(cell).join(" | ")} |`
  const rule = header.map((_, i) => right.includes(i) ? "---:" : "---")
  return [line(header), `| ${rule.join(" | ")} |`, ...rows.map(line)].join("\n") + "\n"
}
