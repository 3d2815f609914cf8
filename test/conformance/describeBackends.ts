/**
 * The conformance suites' entry point: `./backends.js` is the list of backends, which the
 * Wine configuration (test/wine/vitest.config.ts) swaps for its own.
 */
import type * as RegisteredIo from "@effect-rio/core/RegisteredIo"
import type { Vitest } from "@effect/vitest"
import { describe, layer } from "@effect/vitest"
import type { Backend } from "./backends.js"
import { backends } from "./backends.js"

/**
 * Declares `body` once per backend, under `title`: a backend that cannot run here is
 * declared all the same, skipped, with the reason in the suite's name.
 */
export const describeBackends = (
  title: string,
  body: (it: Vitest.MethodsNonLive<RegisteredIo.RegisteredIo>, backend: Backend) => void
): void =>
  backends.forEach((backend) => {
    const name = backend.skip === undefined
      ? `${title}: ${backend.name}`
      : `${title}: ${backend.name} — skipped: ${backend.skip}`
    describe.skipIf(backend.skip !== undefined)(name, () => layer(backend.layer)((it) => body(it, backend)))
  })

/**
 * The backends with sockets (the others reported skipped), on the live clock: the kernels'
 * completions arrive in real time.
 */
export const describeSocketBackends = (
  title: string,
  body: (it: Vitest.MethodsNonLive<RegisteredIo.RegisteredIo, true>, backend: Backend) => void
): void =>
  backends.forEach((backend) => {
    const skip = backend.skip ??
      (backend.sockets === undefined ? "this backend has no sockets (no NetDriver)" : undefined)
    const name = skip === undefined ? `${title}: ${backend.name}` : `${title}: ${backend.name} — skipped: ${skip}`
    describe.skipIf(skip !== undefined)(
      name,
      () => layer(backend.layer, { excludeTestServices: true })((it) => body(it, backend))
    )
  })
