#!/usr/bin/env bash
# Outbox benchmark (issue 3), run by hand:  bash bench/outbox.sh [sqlite|postgres|both]
#
# For each backend: writes EMAILS (default 10,000) emails into the outbox of an empty
# database, then times the Dispatcher sending all of them through the SMTP transport to a
# real SMTP server on loopback that accepts and discards (mailin-embedded, inside the
# benchmark binary). Prints the time to write, the dispatch time and emails per second, then
# the same dispatch with a transport that only builds each message (the outbox's own cost).
# CONCURRENCY (default: the dispatcher's) sets how many emails are sent at once.
set -euo pipefail
which=${1:-both}
emails=${EMAILS:-10000}
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
cargo build --release -q -p vitrine-bench
extra=()
[ -n "${CONCURRENCY:-}" ] && extra+=(--concurrency "$CONCURRENCY")

run() { # backend transport
  local url
  case "$1" in
    sqlite) url="sqlite://$work/outbox-$2.db?mode=rwc" ;;
    postgres)
      local db="vitrine_outbox_bench_$$_$2"
      psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
      pgdbs+=("$db")
      url="postgres://postgres@127.0.0.1:5432/$db" ;;
  esac
  target/release/outbox-bench --database-url "$url" --emails "$emails" --transport "$2" "${extra[@]}"
}

case "$which" in
  sqlite|postgres) backends=("$which") ;;
  both) backends=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|both]"; exit 2 ;;
esac
echo "== $emails emails, $(nproc) cores"
for backend in "${backends[@]}"; do
  run "$backend" smtp
  run "$backend" null
done
