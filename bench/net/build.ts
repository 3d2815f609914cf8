/**
 * Builds what bench:net runs before it measures anything: the C programs with gcc, the JS
 * servers and clients bundled with esbuild. A failed build does not stop the bench: it only
 * marks the rows that need that file as "skipped", with the reason.
 */
import { mkdirSync } from "node:fs"
import { basename, join } from "node:path"
import { firstLine, run } from "./processes.js"

/** Why a built file cannot be used (its build failed), by its path from the repo root. */
export type Built = ReadonlyMap<string, string>

/** Builds the C programs and bundles the JS servers and clients; returns why each unusable one is. */
export const build = async (root: string): Promise<Built> => {
  mkdirSync(join(root, "bench/net/build"), { recursive: true })
  const gcc = (out: string, src: string, libs: ReadonlyArray<string>) =>
    run("gcc", ["-O2", "-Wall", "-o", `bench/net/build/${out}`, `bench/net/${src}`, ...libs], root, 60_000).then((
      result
    ) => [`bench/net/build/${out}`, result.ok ? null : `gcc ${src} failed: ${firstLine(result.stderr)}`] as const)
  // Our servers run as compiled JS, as a user ships them: bundled like bench/index.ts, so
  // that no TypeScript loader sits in the measured process. So do the JS baselines and clients
  // written in TypeScript, so that both sides of a ratio are built the same way.
  const bundle = (source: string) => {
    const out = `bench/build/${basename(source, ".ts")}.mjs`
    return run(
      join(root, "node_modules/.bin/esbuild"),
      [
        source,
        "--bundle",
        "--platform=node",
        "--format=esm",
        `--outfile=${out}`,
        "--external:koffi",
        // pg's optional native binding, which it loads only when asked to.
        "--external:pg-native",
        // CommonJS dependencies (ws, under NodeSocketServer) require Node's built-ins: give the
        // ES module bundle a `require` to do it with.
        "--banner:js=import { createRequire as bannerRequire } from \"node:module\"; " +
        "const require = bannerRequire(import.meta.url);",
        "--log-level=warning"
      ],
      root,
      60_000
    ).then((result) => [out, result.ok ? null : `esbuild ${source} failed: ${firstLine(result.stderr)}`] as const)
  }
  const results = await Promise.all([
    gcc("loadgen", "loadgen.c", []),
    gcc("uring_udp_echo", "uring_udp_echo.c", ["-luring"]),
    gcc("uring_tcp_echo", "uring_tcp_echo.c", ["-luring"]),
    bundle("examples/src/udp-echo.ts"),
    bundle("bench/net/udp-batch-echo.ts"),
    bundle("examples/src/tcp-echo.ts"),
    bundle("examples/src/tcp-batch-echo.ts"),
    bundle("bench/net/tcp-each-echo.ts"),
    bundle("examples/src/rpc-server.ts"),
    bundle("bench/net/socket-echo.ts"),
    bundle("bench/net/rpc-server-node.ts"),
    bundle("bench/net/rpc-load.ts"),
    bundle("bench/net/rpc-wire-load.ts"),
    bundle("bench/net/cluster-runner.ts"),
    bundle("bench/net/cluster-load.ts")
  ])
  return new Map(results.flatMap(([path, reason]) => reason === null ? [] : [[path, reason] as const]))
}
