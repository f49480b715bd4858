#!/usr/bin/env bash
# bench/runtime/run.sh — instance start latency against ctr run, and scale 1→8 against 1→2,
# on a private containerd (started by tests/run.sh). As root. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec bash tests/run.sh -run '^$' -bench . -benchtime "${BENCHTIME:-10x}" -v "$@" ./bench/runtime/
