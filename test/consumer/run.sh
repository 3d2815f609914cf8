#!/usr/bin/env bash
# The consumer test: does what the README's "Install" section says, word for word, in a fresh
# project outside the workspace — its `pack:all` line, then its `npm install` lines with the
# README's placeholder paths replaced by real ones — then type-checks programs that use the
# public API with `tsc --strict` (library types included) and runs them on the real backend and
# on the double. It also checks the README's warning: an install with effect 4 is refused by npm,
# naming our peer range. Fails if an export, a type, a dependency or an install line is wrong.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$repo"

# The shell lines of the README block marked for this test, in order.
block="$(awk '/<!-- consumer-test:/ { marked = 1; next } marked && /^```sh/ { inside = 1; next } inside && /^```/ { exit } inside { print }' README.md)"
pack_line="$(grep -E '^npx -y pnpm@10 install && npx -y pnpm@10 pack:all' <<<"$block" | sed 's/ *#.*//')"
mapfile -t install_lines < <(grep -E '^npm install ' <<<"$block")
if [ -z "$pack_line" ] || [ "${#install_lines[@]}" -ne 2 ]; then
  echo "README's Install block not found or changed shape: expected one pack:all line and two npm install lines" >&2
  exit 1
fi

echo "==> README: $pack_line"
eval "$pack_line" >/dev/null
ls build/packs

mkdir -p "$work/app"
cp test/consumer/main.ts test/consumer/rpc.ts test/consumer/tsconfig.json test/consumer/tsconfig.rpc.json "$work/app/"
cd "$work/app"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >package.json
for line in "${install_lines[@]}"; do
  line="${line//\/path\/to\/effect-rio/$repo}"
  echo "==> README: $line"
  eval "$line --no-audit --no-fund --loglevel=error" >/dev/null
done
echo "==> the compiler a TypeScript user has: npm install -D typescript@5.9.3 @types/node@20"
npm install --no-audit --no-fund --loglevel=error -D typescript@5.9.3 @types/node@20 >/dev/null

echo "==> tsc --strict"
npx tsc -p tsconfig.json
npx tsc -p tsconfig.rpc.json

echo "==> run on the platform's backend and on the double"
backends=(test)
if [ "$(uname -s)" = Linux ]; then backends=(koffi test); fi
for backend in "${backends[@]}"; do
  EFFECT_RIO_BACKEND="$backend" node dist/main.js
  EFFECT_RIO_BACKEND="$backend" node dist/rpc.js
done

echo "==> the README's warning: effect 4 is refused with our peer range named"
mkdir "$work/wrong" && cd "$work/wrong"
printf '{ "name": "wrong", "private": true, "type": "module" }\n' >package.json
if npm install --no-audit --no-fund "$repo"/build/packs/*.tgz effect@4 >"$work/wrong.log" 2>&1; then
  echo "npm installed our packages next to effect 4: the peer range does not exclude it" >&2
  exit 1
fi
if ! grep -q 'ERESOLVE' "$work/wrong.log" || ! grep -q 'peer effect@"^3.22.4" from @effect-rio/' "$work/wrong.log"; then
  cat "$work/wrong.log" >&2
  echo "npm refused effect 4, but not with the ERESOLVE naming our peer range that the README describes" >&2
  exit 1
fi
grep -m1 'peer effect@' "$work/wrong.log"
echo "consumer test passed"
