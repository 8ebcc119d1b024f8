#!/usr/bin/env bash
# Broker check benchmark (issue 11), run by hand:  bash bench/broker_check.sh [RUNS]
#
# RUNS (default 20) full checker runs against the openbrokerapi test broker on loopback,
# synchronous then asynchronous: each run's wall time beside the broker's own summed latency
# from the same run, and what the checker adds. Needs target/test-venv with openbrokerapi
# (as .ci/run makes it):
#   /usr/bin/python3 -m venv target/test-venv && target/test-venv/bin/pip install openbrokerapi==4.7.3
set -euo pipefail
runs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -q -p vitrine-bench --bin broker_check
bin="${CARGO_TARGET_DIR:-target}/release/broker_check"
for mode in conformant conformant-async; do
  echo "== $mode"
  "$bin" --runs "$runs" --mode "$mode" | tail -n 5
done
