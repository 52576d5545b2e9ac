#!/usr/bin/env bash
# Runs a command with a redis-server of its own: loopback, a free port, a
# fresh directory, AOF on; UC_TEST_REDIS_URL points at it (the store
# conformance suite and the ban tests run their Redis rows when it is set).
# The server is stopped and its directory removed when the command ends.
set -u
if ! command -v redis-server >/dev/null 2>&1; then
  echo "with-redis: redis-server is missing: run scripts/deps.sh" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/uc-redis-XXXXXX)
pid=
for attempt in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save '' \
    --logfile "$dir/redis.log" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=
done
if [ -z "$pid" ]; then
  echo "with-redis: could not start redis-server (see $dir/redis.log)" >&2
  exit 1
fi
export UC_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
"$@"
rc=$?
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$dir"
exit $rc
