#!/usr/bin/env bash
# Runs the Windows backend under Wine: builds the reference RIO provider and the layout
# probe with mingw-w64, then, with Windows Node,
#   1. layout: sizeof/offsetof from the C compiler (build/layout.json, checked by
#      packages/koffi/test/windows/layout.test.ts in step 3);
#   2. smoke: the real backend must fail with RioUnavailable 10045 (Wine has no RIO);
#   3. vitest: the Windows driver's tests and the conformance suite, the latter against
#      the Winsock driver over the reference provider (test/wine/vitest.config.ts).
# Exits non-zero on any failure. Needs .ci/wine-setup.sh to have run (it writes the
# environment this script sources).
#
# Under Wine, node.exe's stdout/stderr go to files: pipes make it fail with EBADF at start-up.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$repo/test/wine"
build="$here/build"
cache="${WINE_CACHE:-$repo/.wine-cache}"
if [ ! -f "$cache/env.sh" ]; then
  echo "run .ci/wine-setup.sh first ($cache/env.sh is missing)" >&2
  exit 2
fi
# shellcheck source=/dev/null
. "$cache/env.sh"
mkdir -p "$build"
cd "$repo"

failures=()
started=$(date +%s)
section() { echo; echo "==> $*"; }

# Windows Node; output to files, shown afterwards. A wall-clock limit keeps a hung test
# from eating the CI budget (vitest's own per-test timeouts are 120 s).
wnode() {
  local name="$1" limit="$2"
  shift 2
  timeout --kill-after=30 "$limit" "$WINE" "$NODE_EXE" "$@" >"$build/$name.out" 2>"$build/$name.err" </dev/null
  local rc=$?
  [ $rc -eq 124 ] && echo "$name: timed out after ${limit}s" >>"$build/$name.err"
  tr -d '\r' <"$build/$name.out"
  if [ -s "$build/$name.err" ]; then
    echo "--- stderr ($name) ---"
    tr -d '\r' <"$build/$name.err" | tail -n 200
  fi
  return $rc
}

section "build (mingw-w64)"
cc=x86_64-w64-mingw32-gcc
flags=(-std=c11 -O2 -Wall -Wextra -Werror)
if "$cc" "${flags[@]}" -shared -o "$build/rio_reference.dll" "$here/rio_reference.c" -lws2_32 &&
  "$cc" "${flags[@]}" -o "$build/layout.exe" "$here/layout.c" -lws2_32; then
  echo "built $build/rio_reference.dll and $build/layout.exe"
else
  echo "mingw build failed" >&2
  exit 1
fi

section "layout: sizeof/offsetof from mingw-w64 headers, under Wine"
if "$WINE" "$build/layout.exe" >"$build/layout.json" 2>"$build/layout.err" &&
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$build/layout.json"; then
  node -e '
    const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
    console.log(`source: ${l.source}`)
    for (const [name, t] of Object.entries(l.types)) console.log(`  ${name}: ${t.size} bytes`)
  ' "$build/layout.json"
else
  cat "$build/layout.err" >&2
  failures+=("layout")
fi

section "smoke: the real backend under Wine must be RioUnavailable 10045"
if wnode smoke 300 --import ./test/wine/preload.mjs --import tsx test/wine/smoke.ts; then
  echo "smoke passed"
else
  failures+=("smoke")
fi

section "vitest under Windows Node: driver tests + conformance suite (reference provider)"
provider_win="$("$WINE" winepath -w "$build/rio_reference.dll" 2>/dev/null | tr -d '\r')"
preload_url="file:///$("$WINE" winepath -w "$here/preload.mjs" 2>/dev/null | tr -d '\r' | tr '\\' '/')"
rm -f "$build/vitest-wine.json"
if NODE_OPTIONS="--import=$preload_url" EFFECT_RIO_WINDOWS_PROVIDER="$provider_win" NO_COLOR=1 \
  wnode vitest 1500 node_modules/vitest/vitest.mjs run --config test/wine/vitest.config.ts; then
  echo "vitest passed"
else
  failures+=("vitest")
fi
if [ -f "$build/vitest-wine.json" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
    console.log(`cases: ${r.numTotalTests} total, ${r.numPassedTests} passed, ${r.numFailedTests} failed, ` +
      `${r.numPendingTests + (r.numTodoTests ?? 0)} skipped, in ${r.numTotalTestSuites} suites`)
    const byFile = new Map()
    for (const file of r.testResults) {
      const name = file.name.replace(/\\/g, "/").replace(/^.*?\/(packages|test)\//, "$1/")
      const counts = byFile.get(name) ?? { passed: 0, failed: 0, skipped: 0 }
      for (const t of file.assertionResults) {
        if (t.status === "passed") counts.passed++
        else if (t.status === "failed") counts.failed++
        else counts.skipped++
      }
      byFile.set(name, counts)
    }
    for (const [name, c] of byFile) console.log(`  ${name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`)
  ' "$build/vitest-wine.json"
fi

section "summary"
echo "wine run took $(( $(date +%s) - started ))s"
if [ "${#failures[@]}" -gt 0 ]; then
  echo "FAILED: ${failures[*]}"
  exit 1
fi
echo "all Wine checks passed"
