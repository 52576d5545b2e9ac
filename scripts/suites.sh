#!/usr/bin/env bash
# Runs the suites of `make test`: make targets, one after the other, each one
# even when one before it failed, their output streaming as it comes. The last
# line says how it went, and the exit status is 1 when any suite failed:
#
#   SUMMARY: 10 suites, 9 passed, 1 failed (server-test) in 312 s
#
# Usage: scripts/suites.sh TARGET...   ($MAKE is the make to run.)
# Every test has a time limit of its own (unit.h, pytest-timeout, node --test);
# UC_SUITE_TIMEOUT seconds per suite (default 3600) is only the backstop.
set -u

make=${MAKE:-make}
limit=${UC_SUITE_TIMEOUT:-3600}
passed=0
failed=()
child=
start=$(date +%s)

# Each suite runs in a session of its own so that the backstop can end all of
# it (make, pytest, the servers it started, chromium), not just make. Ctrl-C
# does not reach such a session, so it is passed on from here.
stop() {
  [ -n "$child" ] && kill -"$1" -- -"$child" 2>/dev/null && wait "$child"
  echo
  echo "suites: interrupted" >&2
  exit 130
}
trap 'stop INT' INT
trap 'stop TERM' TERM

for target in "$@"; do
  echo "=== $target"
  t0=$(date +%s)
  setsid timeout -k 30 "$limit" "$make" "$target" &
  child=$!
  wait "$child"
  rc=$?
  child=
  took=$(($(date +%s) - t0))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "=== $target: passed in $took s"
  else
    failed+=("$target")
    [ $rc -eq 124 ] && echo "=== $target: timed out after $limit s" >&2
    echo "=== $target: FAILED (exit $rc) in $took s"
  fi
done

list=
[ ${#failed[@]} -gt 0 ] && list=" (${failed[*]})"
echo "SUMMARY: $# suites, $passed passed, ${#failed[@]} failed$list in $(($(date +%s) - start)) s"
[ ${#failed[@]} -eq 0 ]
