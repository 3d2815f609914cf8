/**
 * Free ports for the tests that choose a listener's port before it listens (cluster runners
 * advertise theirs in their config, PostgreSQL takes it on its command line). No test
 * framework here: bench/net's cluster scenario starts its PostgreSQL with these too.
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"

/**
 * A port on 127.0.0.1 that nothing listens on, below Linux's ephemeral range (32768 and up):
 * a port the kernel picked and released could be handed at once to some outgoing connection's
 * end, and a runner told to listen there would find it taken.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const attempt = () => {
      const port = 20_000 + Math.floor(Math.random() * 12_000)
      const probe = Net.createServer()
      probe.once("error", attempt)
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(port)))
    }
    attempt()
  })

/** `count` free ports on 127.0.0.1. */
export const freePorts = (count: number): Effect.Effect<Array<number>> =>
  Effect.promise(() => Promise.all(Array.from({ length: count }, freePort)))
