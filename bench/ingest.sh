#!/usr/bin/env bash
# Inbound email benchmark (issue 10), run by hand:  bash bench/ingest.sh [sqlite|postgres|both]
#
# For each backend, in a fresh database and a Dovecot of its own (dovecot-imapd):
#   rate:       MESSAGES (default 2,000) replies through the whole inbound path as `serve`
#               takes them (IMAP fetch, parse, trim, key and sender checks, post with its
#               notification, move), in messages/s, beside Dovecot's raw FETCH rate from the
#               same run (the peer);
#   attachment: one reply with an ATTACHMENT_MIB (default 50) MiB recording: the process's
#               peak RSS growth (target <= 64 MiB); spooled, as `serve` takes it, then once
#               more held in memory (`--spool-above-mib 0`), the way before spooling.
set -euo pipefail
which=${1:-both}
messages=${MESSAGES:-2000}
attachment=${ATTACHMENT_MIB:-50}
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
cargo build --release -q -p vitrine-bench --bin ingest-bench
bin=${CARGO_TARGET_DIR:-target}/release/ingest-bench

run() { # backend mode tag [extra ingest-bench options]
  local url
  case "$1" in
    sqlite) url="sqlite://$work/ingest-$3.db?mode=rwc" ;;
    postgres)
      local db="vitrine_ingest_bench_$$_${3//-/_}"
      psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
      pgdbs+=("$db")
      url="postgres://postgres@127.0.0.1:5432/$db" ;;
  esac
  mkdir -p "$work/blobs-$1-$3"
  "$bin" --database-url "$url" --mode "$2" --messages "$messages" \
    --attachment-mib "$attachment" --blob-dir "$work/blobs-$1-$3" "${@:4}"
}

case "$which" in
  sqlite|postgres) backends=("$which") ;;
  both) backends=(sqlite postgres) ;;
  *) echo "usage: $0 [sqlite|postgres|both]"; exit 2 ;;
esac
echo "== $messages replies, one $attachment MiB recording, $(nproc) cores"
for backend in "${backends[@]}"; do
  run "$backend" rate "$backend-rate"
  run "$backend" attachment "$backend-attachment"
done
# The same reply held in memory instead of spooled (what `serve` did before): the difference.
run "${backends[0]}" attachment memory --spool-above-mib 0
