#!/usr/bin/env bash
# Profiles iisn under load: starts `iisn serve` on the benchmark app (2 workers, plain
# web.config, or the Kudu rules with --kudu), puts wrk load on it, records iisn's stacks with
# `perf record -e cpu-clock -g` (VMs often have software events only) and prints the top of
# `perf report`. Installs wrk and perf with apt-get when missing. See bench/README.md.
#   bench/profile.sh [--iisn PATH] [--kudu] [--path /server.js/chunked] [--seconds 10] [--conns 64]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
iisn="$root/target/release/iisn"; kudu=""; url_path="/server.js"; secs=10; conns=64
while [ $# -gt 0 ]; do
  case "$1" in
    --iisn) iisn="$2"; shift 2;;
    --kudu) kudu=1; shift;;
    --path) url_path="$2"; shift 2;;
    --seconds) secs="$2"; shift 2;;
    --conns) conns="$2"; shift 2;;
    *) echo "profile: unknown option $1" >&2; exit 2;;
  esac
done
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v perf >/dev/null || need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$iisn" ] || (cd "$root" && cargo build --release --locked --bin iisn)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/iisn-profile-XXXXXX")"
pid=""
cleanup() { [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && sleep 1; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cp "$here/app/server.js" "$tmp/server.js"
if [ -n "$kudu" ]; then cp "$root/examples/kudu/web.config" "$tmp/"; mkdir -p "$tmp/public"; else cp "$here/app/web.config" "$tmp/"; fi
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$iisn" serve "$tmp" --port "$port" --processes 2 --no-watch >"$tmp/iisn.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/server.js" >/dev/null 2>&1 && break; sleep 0.1; done
wrk -t1 -c"$conns" -d"$((secs + 2))s" "http://127.0.0.1:$port$url_path" >"$tmp/wrk.txt" &
wrk_pid=$!
sleep 1
perf record -e cpu-clock -F 2000 -g -p "$pid" -o "$tmp/perf.data" -- sleep "$secs" 2>/dev/null
wait "$wrk_pid" || true
grep -E "Requests/sec|Latency" "$tmp/wrk.txt" || true
[ -n "${PROFILE_KEEP:-}" ] && cp "$tmp/perf.data" "$PROFILE_KEEP"
perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30 | cut -c1-120
echo "--- by DSO"
perf report -i "$tmp/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -6 | cut -c1-60
