#!/usr/bin/env bash
# bench/classify: see run.py. Needs `make` (binary, snapshot, npm lists) first.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 bench/classify/run.py "$@"
