#!/usr/bin/env bash
# The consumer test: builds and packs every package, installs the tarballs with npm into a
# fresh project outside the workspace, type-checks a program that uses the public API with
# `tsc --strict` (library types included), and runs it on the real backend and on the double.
# Fails if an export, a type or a dependency is missing from what would be published.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$repo"

echo "==> build (tsc -p tsconfig.build.json in each package)"
npx -y pnpm@10 -r --filter "./packages/*" build

echo "==> pack"
mkdir -p "$work/packs" "$work/app"
for package in core koffi testing platform; do
  (cd "packages/$package" && npx -y pnpm@10 pack --pack-destination "$work/packs" >/dev/null)
done
ls "$work/packs"

echo "==> a fresh project in $work/app: npm install of the tarballs"
cp test/consumer/main.ts test/consumer/tsconfig.json "$work/app/"
cd "$work/app"
printf '{ "name": "consumer", "private": true, "type": "module" }\n' >package.json
npm install --no-audit --no-fund --loglevel=error "$work"/packs/*.tgz effect@3.22.4 @effect/platform@0.97.2 typescript@5.9.3 @types/node@20 >/dev/null

echo "==> tsc --strict"
npx tsc -p tsconfig.json

echo "==> run on the platform's backend and on the double"
backends=(test)
if [ "$(uname -s)" = Linux ]; then backends=(koffi test); fi
for backend in "${backends[@]}"; do
  EFFECT_RIO_BACKEND="$backend" node dist/main.js
done
echo "consumer test passed"
