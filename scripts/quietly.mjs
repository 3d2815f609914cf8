// Runs a command and shows its output only if it fails: `node scripts/quietly.mjs <label> <command…>`.
// For tools that log every step on success (docgen prints ~35 timestamped INFO lines), so that
// `pnpm test` shows what needs reading. On success it prints one line naming what ran.
import { spawn } from "node:child_process"

const [label, command, ...args] = process.argv.slice(2)
if (label === undefined || command === undefined) {
  console.error("usage: node scripts/quietly.mjs <label> <command> [args…]")
  process.exit(2)
}
const output = []
const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], shell: process.platform === "win32" })
child.stdout.on("data", (chunk) => output.push(chunk))
child.stderr.on("data", (chunk) => output.push(chunk))
child.on("error", (error) => {
  console.error(`${label}: could not start ${command}: ${error.message}`)
  process.exit(1)
})
child.on("close", (code, signal) => {
  if (code === 0) {
    console.log(`${label}: ok`)
    return
  }
  process.stderr.write(Buffer.concat(output))
  console.error(`${label}: failed (${signal ?? `exit code ${code}`})`)
  process.exit(code ?? 1)
})
