/**
 * Text widths for Vega's layout when it has no canvas to measure with: Helvetica's advance
 * widths (Arial's are the same), which is what the charts ask for and what most viewers have.
 */

/** Advance widths in thousandths of an em of the printable ASCII characters, from space (32) on. */
const HELVETICA: ReadonlyArray<number> = [
  "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278", // space to /
  "556 556 556 556 556 556 556 556 556 556 278 278 584 584 584 556", // 0 to ?
  "1015 667 667 722 722 667 611 778 722 278 500 667 556 833 722 778", // @ to O
  "667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 556", // P to _
  "333 556 556 500 556 556 278 556 556 222 222 500 222 833 556 556", // ` to o
  "556 556 333 500 278 556 500 722 500 500 500 334 260 334 584" // p to ~
].join(" ").split(" ").map(Number)

/** The few others the charts print (×, ÷, µ, dashes); anything else counts as a digit. */
const OTHERS: Record<string, number> = { "×": 584, "÷": 584, "µ": 556, "–": 556, "—": 1000, "’": 222 }

/**
 * A viewer without Helvetica or Arial falls back to a wider face (DejaVu Sans is up to 12 %
 * wider); measuring that much wider keeps labels inside the picture there too.
 */
const FALLBACK_MARGIN = 1.12

/** Bold faces are about 6 % wider than regular ones. */
const BOLD = 1.06

/** The part of a Vega text item that sizes it. */
interface TextItem {
  readonly fontSize?: number
  readonly fontWeight?: string | number
}

/** Width in pixels of one line, as Vega's `textMetrics.width` is called: with the item and its text. */
export const textWidth = (item: TextItem, text: unknown): number => {
  const size = item.fontSize ?? 11
  const bold = item.fontWeight === "bold" || (typeof item.fontWeight === "number" && item.fontWeight >= 600)
  let thousandths = 0
  for (const char of String(text ?? "")) {
    const code = char.codePointAt(0)!
    thousandths += code >= 32 && code <= 126 ? HELVETICA[code - 32]! : OTHERS[char] ?? 556
  }
  return (thousandths / 1000) * size * FALLBACK_MARGIN * (bold ? BOLD : 1)
}
