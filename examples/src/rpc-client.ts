/**
 * A plain `@effect/rpc` client — NodeSocket, no effect-rio at all — for `rpc-server.ts`: the
 * server on registered I/O speaks @effect/rpc's socket protocol like any other. It makes
 * `--count` calls, 32 at a time, and checks every answer.
 *
 *   node --import tsx examples/src/rpc-client.ts --port 7009 [--count 1000]
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Effect from "effect/Effect"
import { parse } from "./echoCli.js"
import { runPlain } from "./main.js"
import { connect, exercise } from "./rpcApi.js"

let command: ReturnType<typeof parse>
try {
  command = parse("rpc-client", ["client", ...process.argv.slice(2)])
} catch (error) {
  // The echo examples' parser, whose usage line is theirs: say this one's.
  console.error(`${(error as Error).message.split("\n")[0]}\nusage: rpc-client --port P [--count N]`)
  process.exit(2)
}
const { count, host, port } = command

runPlain(
  Effect.scoped(Effect.flatMap(connect(NodeSocket.layerNet({ host, port })), (client) => exercise(client, count)))
)
