#!/usr/bin/env bash
# Where iisn copies memory on the hot path: the source lines that call memcpy/memmove with
# 100 bytes or more while a request is served, with the size and how often per request.
# Large copies in async Rust are values moved by value through `async fn` layers (a request,
# a routing decision, a future being started); each shows here as its line and size.
#
#   bench/moves.sh                              GET /server.js (hello), 2 requests
#   bench/moves.sh --path /server.js/chunked --requests 4
#
# It builds iisn with line tables (release profile, `target/profiling`, once), starts it on
# the bench app with one node worker, sends a few warm-up requests, attaches gdb with a
# breakpoint on glibc's memmove variants (memcpy shares their code), sends N requests on one kept-alive
# connection and prints each call site (file:line of the caller), the bytes copied, and the
# count divided by N (a copy made once per connection shows as 1/N). Installs gdb with apt-get when missing. Slow (gdb stops on every
# copy): a few requests only. See bench/README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
url_path="/server.js"; n=2; min=100
while [ $# -gt 0 ]; do
  case "$1" in
    --path) url_path="$2"; shift 2;;
    --requests) n="$2"; shift 2;;
    --min) min="$2"; shift 2;;
    *) echo "moves: unknown option $1" >&2; exit 2;;
  esac
done
if ! command -v gdb >/dev/null; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdb >/dev/null
fi
(cd "$root" && CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR="$root/target/profiling" \
  cargo build --release --locked --bin iisn 2>&1 | tail -1)
iisn="$root/target/profiling/release/iisn"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/iisn-moves-XXXXXX")"
pid=""; gdb_pid=""
cleanup() {
  [ -n "$gdb_pid" ] && kill "$gdb_pid" 2>/dev/null
  sleep 0.5
  [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && sleep 1
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
cp "$here/app/server.js" "$here/app/web.config" "$tmp/"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$iisn" serve "$tmp" --port "$port" --processes 1 --no-watch -q >"$tmp/iisn.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/server.js" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in 1 2 3; do curl -s "http://127.0.0.1:$port$url_path" >/dev/null; done
cat >"$tmp/gdb.cmd" <<'EOF'
set pagination off
set print frame-arguments none
rbreak ^__memmove_.*unaligned
commands 1-$bpnum
silent
printf "COPY %d\n", $rdx
bt 2
continue
end
echo READY\n
continue
EOF
gdb -p "$pid" -batch -x "$tmp/gdb.cmd" >"$tmp/gdb.out" 2>&1 &
gdb_pid=$!
for _ in $(seq 120); do grep -q READY "$tmp/gdb.out" && break; sleep 0.5; done
sleep 1
urls=(); for _ in $(seq "$n"); do urls+=("http://127.0.0.1:$port$url_path"); done
curl -s -m 120 "${urls[@]}" >/dev/null
sleep 2
# SIGINT stops the inferior; gdb then ends its batch script and detaches, removing its
# breakpoints (a plain kill would leave them in iisn, which then dies of SIGTRAP).
kill -INT "$gdb_pid" 2>/dev/null; wait "$gdb_pid" 2>/dev/null || true; gdb_pid=""
echo "memcpy/memmove calls of at least $min bytes per request, $url_path ($n requests on one connection):"
echo
printf "%8s  %6s  %s\n" "per req" "bytes" "caller"
awk -v min="$min" -v n="$n" '
  /^COPY /   { size = $2; want = 1; next }
  /^#1 / && want { site = $NF; want = 0; if (size >= min) { key = size "\t" site; c[key]++ } }
  END { for (k in c) { split(k, a, "\t"); printf "%8.1f  %6d  %s\n", c[k] / n, a[1], a[2]; calls += c[k]; bytes += c[k] * a[1] }
        printf "%.1f calls, %.0f bytes per request\n", calls / n, bytes / n > "'"$tmp/total"'" }
' "$tmp/gdb.out" | sort -k2,2nr -k1,1nr
echo
cat "$tmp/total"
