#!/usr/bin/env bash
# Catalog benchmark (issue 2), run by hand:  bash bench/catalog.sh [sqlite|postgres]
#
# Seeds 10,000 offerings (half public, half limited), 2,000 accounts and 100,000 allowlist
# entries, starts `vitrine serve` (release build), and measures GET /api/v1/catalog?limit=20
# with wrk (32 connections): anonymously, as a customer allowlisted on 50 offerings, and with
# a search term. In the same run it measures the peer: a bare axum handler returning the
# catalog's own response body. Prints requests/s and latency percentiles for each, and the
# server's resident memory idle and under load.
#
# SERVERS=3 (PostgreSQL only) then starts two more servers on the same database and runs
# the anonymous and customer lines again with one wrk per server side by side (the
# connections split between them), summing their requests/s: catalog throughput with 1 and
# with N servers on the same machine (nproc says how many cores they share).
#   SERVERS=3 bash bench/catalog.sh postgres
set -euo pipefail
backend=${1:-sqlite}
servers=${SERVERS:-1}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; [ -n "${pgdb:-}" ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
cd "$root"
# PROFILE=dev measures an unoptimised build (only to compare 1 and N servers quickly).
profile=${PROFILE:-release}
cargo build --profile "$profile" -q -p vitrine -p vitrine-bench
bin=${CARGO_TARGET_DIR:-$root/target}/$([ "$profile" = dev ] && echo debug || echo "$profile")

case "$backend" in
  sqlite) url="sqlite://$work/vitrine.db" ;;
  postgres)
    pgdb="vitrine_bench_$$"
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $pgdb" >/dev/null
    url="postgres://postgres@127.0.0.1:5432/$pgdb" ;;
  *) echo "usage: $0 [sqlite|postgres]"; exit 2 ;;
esac

echo "== seeding ($backend)"
start=$(date +%s)
token=$("$bin"/seed-catalog --database-url "$url" | tail -n 1)
echo "seeded in $(( $(date +%s) - start )) s"

port=18080
"$bin"/vitrine serve --database-url "$url" --listen "127.0.0.1:$port" --data-dir "$work" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
base="http://127.0.0.1:$port/api/v1/catalog?limit=20"
curl -sf "$base" >"$work/body.json"
echo "response body: $(wc -c <"$work/body.json") bytes; idle RSS: $(rss $server)"

"$bin"/bare-server --listen 127.0.0.1:18099 --body "$work/body.json" &
bare=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:18099/api/v1/catalog" >/dev/null && break; sleep 0.2; done

run() { # name url [header]
  local name=$1 url=$2; shift 2
  wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" "$url" >"$work/wrk.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  local errors; errors=$(awk '/Non-2xx|Socket errors/' "$work/wrk.txt")
  printf "%-28s %10s req/s   p50 %8s   p99 %8s   %s\n" "$name" "$rps" "$p50" "$p99" "$errors"
}

echo "== $backend, $connections connections, $duration each"
run "bare axum (peer)" "http://127.0.0.1:18099/api/v1/catalog"
run "catalog anonymous" "$base"
echo "   server RSS under load: $(rss $server)"
run "catalog customer (50)" "$base" -H "Authorization: Bearer $token"
run "catalog search 'stor'" "$base&q=stor"
run "catalog customer + search" "$base&q=donn" -H "Authorization: Bearer $token"
echo "   server RSS after load: $(rss $server)"

if (( servers > 1 )); then
  [ "$backend" = postgres ] || { echo "SERVERS=$servers needs postgres (SQLite serves one server)"; exit 2; }
  for i in $(seq 1 $((servers - 1))); do
    mkdir -p "$work/server$i"
    "$bin"/vitrine serve --database-url "$url" --listen "127.0.0.1:$((port + i))" \
      --data-dir "$work/server$i" >"$work/server$i.log" 2>&1 &
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((port + i))/healthz" >/dev/null && break; sleep 0.2; done
  done
  run_many() { # n name path [header]: one wrk on each of the first n servers at once, summed
    local n=$1 name=$2 path=$3; shift 3
    local i pids=()
    rm -f "$work"/wrk-many*.txt
    for i in $(seq 0 $((n - 1))); do
      wrk -t1 -c$(( (connections + n - 1) / n )) -d"$duration" --latency "$@" \
        "http://127.0.0.1:$((port + i))$path" >"$work/wrk-many$i.txt" &
      pids+=($!)
    done
    wait "${pids[@]}"
    local total; total=$(awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}' "$work"/wrk-many*.txt)
    local errors; errors=$(cat "$work"/wrk-many*.txt | awk '/Non-2xx|Socket errors/')
    printf "%-28s %10s req/s   over %d server(s), %d cores   %s\n" "$name" "$total" "$n" "$(nproc)" "$errors"
  }
  echo "== 1 and $servers servers on one PostgreSQL, $connections connections in all, $duration each"
  for n in 1 "$servers"; do
    run_many "$n" "catalog anonymous" "/api/v1/catalog?limit=20"
    run_many "$n" "catalog customer (50)" "/api/v1/catalog?limit=20" -H "Authorization: Bearer $token"
  done
fi
