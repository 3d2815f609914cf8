/**
 * Timing helpers: every figure is the median per-operation time of several rounds, each
 * round long enough to swamp timer resolution, after a warm-up round the JIT can use.
 */
import * as Effect from "effect/Effect"

export interface Figure {
  readonly name: string
  /** Median nanoseconds per operation. */
  readonly ns: number
  readonly rounds: ReadonlyArray<number>
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export interface Plan {
  readonly rounds: number
  readonly iterations: number
}

/** Times a plain synchronous loop body. */
export const timeSync = (name: string, plan: Plan, body: () => void): Figure => {
  const rounds: Array<number> = []
  for (let round = -1; round < plan.rounds; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < plan.iterations; i++) body()
    const ns = Number(process.hrtime.bigint() - start) / plan.iterations
    if (round >= 0) rounds.push(ns)
  }
  return { name, ns: median(rounds), rounds }
}

/** Times `make()` run `plan.iterations` times in sequence inside one fiber. */
export const timeEffect = <E, R>(
  name: string,
  plan: Plan,
  make: () => Effect.Effect<unknown, E, R>
): Effect.Effect<Figure, E, R> =>
  Effect.gen(function*() {
    const rounds: Array<number> = []
    for (let round = -1; round < plan.rounds; round++) {
      let i = 0
      const start = process.hrtime.bigint()
      yield* Effect.whileLoop({ while: () => i++ < plan.iterations, body: make, step: () => {} })
      const ns = Number(process.hrtime.bigint() - start) / plan.iterations
      if (round >= 0) rounds.push(ns)
    }
    return { name, ns: median(rounds), rounds }
  })

/**
 * Times several candidates with their rounds interleaved (A B C A B C ...), so that a slow
 * spell of the machine falls on all of them alike and their ratios stay honest.
 */
export const timeEffects = <K extends string, E, R>(
  plan: Plan,
  candidates: Record<K, () => Effect.Effect<unknown, E, R>>
): Effect.Effect<Record<K, Figure>, E, R> =>
  Effect.gen(function*() {
    const names = Object.keys(candidates) as Array<K>
    const rounds = new Map<K, Array<number>>(names.map((name) => [name, []]))
    for (let round = -1; round < plan.rounds; round++) {
      for (const name of names) {
        const make = candidates[name]
        let i = 0
        const start = process.hrtime.bigint()
        yield* Effect.whileLoop({ while: () => i++ < plan.iterations, body: make, step: () => {} })
        const ns = Number(process.hrtime.bigint() - start) / plan.iterations
        if (round >= 0) rounds.get(name)!.push(ns)
      }
    }
    return Object.fromEntries(
      names.map((name) => [name, { name, ns: median(rounds.get(name)!), rounds: rounds.get(name)! }])
    ) as unknown as Record<K, Figure>
  })

export const micros = (ns: number): string => (ns / 1000).toFixed(3)
export const ratio = (value: number, base: number): string => (value / base).toFixed(2)

/** Prints a plain-text table: a header, a rule, the rows, a blank line. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void => {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")
  console.log(line(header))
  console.log(widths.map((width) => "-".repeat(width)).join("-|-"))
  rows.forEach((row) => console.log(line(row)))
  console.log()
}
