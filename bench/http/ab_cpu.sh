#!/usr/bin/env bash
# A/B of two server builds by the server's own CPU time per check request:
# both serve on loopback (SQLite in a temp dir, no DNS, no domain age, bans
# off), then alternating `wrk -t2 -c64 -d4s` runs of bench/http/post.lua hit
# one and then the other; CPU is utime + stime from /proc/PID/stat around each
# run. CPU per request is steadier than requests per second on a shared
# machine. Run it under the bench lock:
#   flock /tmp/uc-bench.lock bench/http/ab_cpu.sh OLD_BINARY NEW_BINARY [ROUNDS]
# Prints, per round, each server's CPU microseconds per request and NEW/OLD.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
A=$1 B=$2 ROUNDS=${3:-5}
TMP=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; rm -rf "$TMP"' EXIT

start() { # binary port name -> prints "KEY PID"
  local d="$TMP/$3"
  mkdir -p "$d"
  "$1" serve --listen "127.0.0.1:$2" --store "$d/s.db" --access-log off \
    --lists "$ROOT/build/lists.snap" --no-domain-age --no-dns --batch-dir "$d/b" >"$d/out" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$d/out" && break; sleep 0.05; done
  local key admin
  key=$(grep -o "active key: *[^ ]*" "$d/out" | awk '{print $3}')
  admin=$(grep -o "admin key: *[^ ]*" "$d/out" | awk '{print $3}')
  curl -sf -X PATCH -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"ban_enabled": false}' "http://127.0.0.1:$2/v1/admin/settings" >/dev/null
  echo "$key $pid"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
per_request() { # key pid port -> CPU microseconds per request
  local c0 c1 n tick
  tick=$(getconf CLK_TCK)
  c0=$(cpu_ticks "$2")
  n=$(UC_KEY=$1 wrk -t2 -c64 -d4s -s "$ROOT/bench/http/post.lua" "http://127.0.0.1:$3/v1/email/check" |
    grep -o "[0-9]* requests in" | awk '{print $1}')
  c1=$(cpu_ticks "$2")
  echo "scale=2; ($c1 - $c0) * 1000000 / $tick / $n" | bc
}
read -r KA PA <<<"$(start "$A" 18311 a)"
PIDS+=("$PA")
read -r KB PB <<<"$(start "$B" 18312 b)"
PIDS+=("$PB")
for r in $(seq "$ROUNDS"); do
  a=$(per_request "$KA" "$PA" 18311)
  b=$(per_request "$KB" "$PB" 18312)
  echo "round $r: old ${a} us/request, new ${b} us/request, new/old $(echo "scale=3; $b / $a" | bc)"
done
