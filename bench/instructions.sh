#!/usr/bin/env bash
# Counts the user-space instructions a proxy executes per request, with valgrind's callgrind:
# the same figure for the same binary and load whatever else the machine is doing (steal
# time, other processes), so a change of a few percent shows, where CPU time on a shared
# 2-core VM moves by 20% from run to run. Kernel time (the socket system calls) is not
# counted: compare system call counts with `strace -c -f -p PID` apart.
#
#   bench/instructions.sh                       iisn (plain web.config), iisn (Kudu), nginx
#   bench/instructions.sh --iisn /tmp/old-iisn  the same with another build (before/after)
#   bench/instructions.sh --path /server.js/chunked --targets iisn,nginx --seconds 8
#   bench/instructions.sh --cache               adds valgrind's cache simulation: first-level
#                                               instruction and data cache misses per request
#
# Why --cache: two programs running the same number of instructions can take different
# times, and on the hot path the difference is mostly instruction-cache misses (a proxy's
# code spread over tokio, httparse, http and its own modules) and data written (structs
# and futures moved). The simulated caches are this machine's sizes; the counts compare
# builds and targets, they are not a cycle count.
#
# Each target serves bench/app/server.js with 2 node processes (not counted: only the proxy
# runs under valgrind). wrk warms up for 3 s with callgrind's counters then zeroed, loads it
# for --seconds, and the counters are dumped: instructions ÷ requests wrk completed. nginx
# runs one worker in the foreground (master_process off) so that its one process is the
# one measured. Installs valgrind, wrk and nginx-light with apt-get when missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
iisn="$root/target/release/iisn"; url_path="/server.js"; secs=8; targets="iisn,iisn-kudu,nginx"
cache=()
while [ $# -gt 0 ]; do
  case "$1" in
    --iisn) iisn="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2;;
    --path) url_path="$2"; shift 2;;
    --seconds) secs="$2"; shift 2;;
    --targets) targets="$2"; shift 2;;
    --cache) cache=(--cache-sim=yes); shift;;
    *) echo "instructions: unknown option $1" >&2; exit 2;;
  esac
done
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$iisn" ] || (cd "$root" && cargo build --release --locked --bin iisn)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/iisn-instr-XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_up() { for _ in $(seq 150); do curl -sf "http://127.0.0.1:$1$url_path" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "instructions: $2 did not answer" >&2; return 1; }

# Runs the load against a process under callgrind and prints instructions per request.
measure() {
  local name="$1" port="$2" vpid="$3" out="$4"
  wait_up "$port" "$name"
  wrk -t1 -c16 -d3s "http://127.0.0.1:$port$url_path" >/dev/null
  callgrind_control -z "$vpid" >/dev/null 2>&1
  local res req ir f
  res="$(wrk -t1 -c16 -d"${secs}s" "http://127.0.0.1:$port$url_path")"
  callgrind_control -d "$vpid" >/dev/null 2>&1
  sleep 1
  req="$(echo "$res" | awk '/requests in/ {print $1}')"
  f="$(ls -t "$out"/cg.out.*.1 2>/dev/null | head -1)"
  # The totals line lists each event's count (then its share, "(100.0%)") in the order of
  # the "Events shown" line.
  local counts
  counts="$(callgrind_annotate "$f" 2>/dev/null | awk -v r="$req" '
    /^Events shown:/ { for (i = 3; i <= NF; i++) ev[i - 2] = $i; n = NF - 2 }
    /PROGRAM TOTALS/ {
      k = 0
      for (i = 1; i <= NF && k < n; i++) if ($i !~ /^\(/) { gsub(",", "", $i); v[ev[++k]] = $i }
      printf "%d %d %d %d\n", v["Ir"], v["Ir"] / r, v["I1mr"] / r, (v["D1mr"] + v["D1mw"]) / r
      exit
    }')"
  read -r ir per i1 d1 <<<"$counts"
  local misses=""
  [ ${#cache[@]} -eq 0 ] || misses=" $i1 | $d1 |"
  printf '| %s | %s | %s | %s |%s\n' "$name" "$req" "$ir" "$per" "$misses"
  kill -INT "$vpid" 2>/dev/null || true
}

echo "user-space instructions per request (callgrind), $url_path, ${secs} s of wrk -c16"
echo
if [ ${#cache[@]} -eq 0 ]; then
  echo "| target | requests | instructions | per request |"
  echo "|---|---:|---:|---:|"
else
  echo "| target | requests | instructions | per request | I1 misses per request | D1 misses per request |"
  echo "|---|---:|---:|---:|---:|---:|"
fi
IFS=',' read -r -a list <<<"$targets"
for t in "${list[@]}"; do
  dir="$tmp/$t"; mkdir -p "$dir"
  cp "$here/app/server.js" "$dir/"
  port="$(free_port)"
  case "$t" in
    iisn|iisn-kudu)
      if [ "$t" = iisn-kudu ]; then cp "$root/examples/kudu/web.config" "$dir/"; mkdir -p "$dir/public"; else cp "$here/app/web.config" "$dir/"; fi
      valgrind --tool=callgrind "${cache[@]}" --callgrind-out-file="$dir/cg.out.%p" \
        "$iisn" serve "$dir" --port "$port" --processes 2 --no-watch >"$dir/log" 2>&1 &
      vpid=$!; pids+=("$vpid")
      measure "$t" "$port" "$vpid" "$dir";;
    nginx)
      for i in 1 2; do PORT="$dir/node$i.sock" node "$dir/server.js" >/dev/null 2>&1 & pids+=($!); done
      for i in 1 2; do for _ in $(seq 100); do [ -S "$dir/node$i.sock" ] && break; sleep 0.1; done; done
      user_line=""; [ "$(id -u)" -eq 0 ] && user_line="user root;"
      cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  upstream node {
    server unix:$dir/node1.sock max_fails=0;
    server unix:$dir/node2.sock max_fails=0;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
EOF
      valgrind --tool=callgrind "${cache[@]}" --callgrind-out-file="$dir/cg.out.%p" \
        nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/log" 2>&1 &
      vpid=$!; pids+=("$vpid")
      measure "$t" "$port" "$vpid" "$dir";;
    *) echo "instructions: unknown target $t" >&2; exit 2;;
  esac
done
