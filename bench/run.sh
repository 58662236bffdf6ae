#!/usr/bin/env bash
# One command from a clean clone: builds iisn in release mode, installs wrk and nginx (Debian
# packages) and pm2 (npm) when missing, and runs bench/bench.js with the arguments given.
# See bench/README.md. Set IISN_BENCH_NO_BUILD=1 to use an existing binary (--iisn PATH).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "bench: need root to run: $*" >&2; exit 1; fi
}

command -v node >/dev/null || { echo "bench: node is not on PATH (install Node.js 18+)" >&2; exit 1; }
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]} with apt-get" >&2
  need_root apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts the nginx service on install where it can; the bench runs its own.
fi
if ! command -v pm2 >/dev/null; then
  echo "bench: installing pm2 with npm" >&2
  if [ -w "$(npm prefix -g)/lib" ] 2>/dev/null; then npm install -g pm2 >/dev/null; else need_root npm install -g pm2 >/dev/null; fi
fi
if [ -z "${IISN_BENCH_NO_BUILD:-}" ]; then
  echo "bench: building iisn (release)" >&2
  (cd "$root" && cargo build --release --locked --bin iisn >&2)
fi
# 1,000 connections need file descriptors on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node "$here/bench.js" "$@"
