/**
 * The kernel's count of this process's pinned memory. io_uring charges every registered
 * buffer page to it (`mm->pinned_vm`, shown as `VmPin`), also for root, so it proves that
 * pages are pinned while registered and released afterwards.
 */
import * as fs from "node:fs"

/**
 * `VmPin` of /proc/self/status in KiB. Throws when the line is missing (not Linux, or a
 * kernel without it), since a silent 0 would make a pinning check pass vacuously.
 */
export const readVmPinKiB = (): number => {
  const status = fs.readFileSync("/proc/self/status", "utf8")
  const match = /^VmPin:\s+(\d+)\s+kB$/m.exec(status)
  if (match === null) throw new Error("/proc/self/status has no VmPin line")
  return Number(match[1])
}
