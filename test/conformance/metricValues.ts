/**
 * Reading the library's metrics back from Effect's metric registry in tests: a metric's
 * value summed over the tag sets that match (0 before its first update).
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** A counter's count, a gauge's value, or a histogram's `count` / `sum` (`field`). */
export const metricValue = (
  name: string,
  tags: Readonly<Record<string, string>>,
  field: "value" | "count" | "sum" = "value"
): Effect.Effect<number> =>
  Effect.map(Metric.snapshot, (pairs) => {
    let total = 0
    for (const pair of pairs) {
      if (pair.metricKey.name !== name) continue
      const own = new Map(pair.metricKey.tags.map((tag) => [tag.key, tag.value]))
      if (!Object.entries(tags).every(([key, value]) => own.get(key) === value)) continue
      const state = pair.metricState as unknown as Record<string, number>
      total += field === "value" ? state.count ?? state.value ?? 0 : state[field] ?? 0
    }
    return total
  })

/** Several metrics at once, as one record of numbers. */
export const metricValues = <K extends string>(
  read: Readonly<Record<K, Effect.Effect<number>>>
): Effect.Effect<Record<K, number>> => Effect.all(read) as unknown as Effect.Effect<Record<K, number>>
