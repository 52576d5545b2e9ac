#!/usr/bin/env bash
# Installs what the build and the tests need and is missing: Debian packages
# (apt-get) and the pinned npm packages (npm ci). Safe to run again: it only
# acts when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler, pkg-config and the libraries of STYLE.md.
BUILD_PKGS="build-essential pkg-config clang clang-format libclang-rt-14-dev
  libidn2-dev libpsl-dev publicsuffix libjansson-dev libyajl-dev libsodium-dev libinih-dev
  libcmocka-dev libsqlite3-dev libmicrohttpd-dev libc-ares-dev libhiredis-dev libcurl4-openssl-dev
  libcsv-dev libzip-dev libexpat1-dev libxlsxwriter-dev libicu-dev libxxhash-dev"
# Tests and benchmarks.
TEST_PKGS="python3 python3-pytest python3-pytest-timeout python3-requests python3-django
  python3-pytest-django python3-pip python3-setuptools python3-openpyxl python3-venv
  python3-jsonschema python3-flask python3-wtforms python3-fastapi python3-httpx chromium
  dnsmasq-base redis-server nginx-light iproute2"
BENCH_PKGS="wrk nginx-light hyperfine"

want="$BUILD_PKGS $TEST_PKGS"
case "${1:-}" in
  --bench) want="$want $BENCH_PKGS" ;;
esac

missing=()
for p in $want; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js may come from Debian (nodejs + npm) or from a vendor build that
# bundles npm in its nodejs package: ask for Debian's only when a tool is absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to apt-get install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: reinstall only when the lockfile changed since the last npm ci.
for dir in lists tests/dashboard; do
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    echo "deps: npm ci in $dir"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
done
