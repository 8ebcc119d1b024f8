#!/usr/bin/env bash
# Webhooks benchmark (issue 13), run by hand:  bash bench/webhooks.sh [sqlite|postgres|both]
#
# For each backend: ENDPOINTS (default 10) endpoints, EVENTS (default 10,000) audited changes
# written in changes of 1,000 (the fan-out trigger makes one delivery per endpoint in each
# change's transaction), then the Deliverer until every delivery is recorded: signed and
# POSTed to a receiver on loopback (in the benchmark's process), then, on a fresh database,
# built, signed and recorded without sending (the outbox alone, the peer). Prints
# deliveries per second for both, from the same run.
set -euo pipefail
which=${1:-both}
events=${EVENTS:-10000}
endpoints=${ENDPOINTS:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pgdbs=()
cleanup() {
  rm -rf "$work"
  for db in "${pgdbs[@]}"; do
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

cd "$root"
cargo build --release -q -p vitrine-bench --bin webhooks-bench

run() { # backend transport
  local url
  case "$1" in
    sqlite) url="sqlite://$work/webhooks-$2.db?mode=rwc" ;;
    postgres)
      local db="vitrine_webhooks_bench_$$_$2"
      psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
      pgdbs+=("$db")
      url="postgres://postgres@127.0.0.1:5432/$db" ;;
  esac
  target/release/webhooks-bench --database-url "$url" --events "$events" --endpoints "$endpoints" --transport "$2"
}

case "$which" in
  sqlite|postgres) backends=("$which") ;;
  both) backends=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|both]"; exit 2 ;;
esac
echo "== $events changes x $endpoints endpoints, $(nproc) cores"
for backend in "${backends[@]}"; do
  run "$backend" http
  run "$backend" null
done
