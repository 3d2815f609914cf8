// bench/net: counts the bytes a server allocates on the V8 heap, loaded into the server with
// `node --import ./bench/net/heap-report.mjs <server…>` (any Node server, unchanged).
//
// The first SIGUSR2 starts counting; the next one stops and prints one line on stdout,
//   heap {"allocatedBytes":N,"gcs":G,"gcMs":M,"seconds":S}
// and so on, alternately. Allocated = used heap at the stop - used heap at the start + what
// every garbage collection in between freed (from v8.GCProfiler's before/after figures). It
// counts the V8 heap only: the memory behind ArrayBuffers and Buffers (external memory) is
// not in it. Nothing runs between the signals except V8's own per-GC bookkeeping, and the
// timed bench runs never have the profiler started.
import v8 from "node:v8"

let profiler = null
let startUsed = 0
let started = 0

process.on("SIGUSR2", () => {
  if (profiler === null) {
    profiler = new v8.GCProfiler()
    profiler.start()
    startUsed = v8.getHeapStatistics().used_heap_size
    started = performance.now()
    return
  }
  const seconds = (performance.now() - started) / 1000
  const endUsed = v8.getHeapStatistics().used_heap_size
  const { statistics } = profiler.stop()
  profiler = null
  let freed = 0
  let gcMs = 0
  for (const gc of statistics) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize
    gcMs += gc.cost / 1000
  }
  const report = { allocatedBytes: endUsed - startUsed + freed, gcs: statistics.length, gcMs, seconds }
  process.stdout.write(`heap ${JSON.stringify(report)}\n`)
})
