#!/usr/bin/env bash
# Web pages benchmark (issue 4), run by hand:  bash bench/pages.sh [sqlite|postgres]
#
# Seeds the catalog benchmark's database (10,000 offerings, 2,000 accounts, 100,000 allowlist
# entries, with seed-catalog), starts `vitrine serve` (release build) on the test clock, puts
# one submission in review with a validator (the steps of scripts/review-cycle.sh: provider,
# offering ready for go-live, recording, submit, clock moved to the review date) and a short
# thread, then measures with wrk (32 connections) the server-rendered pages as browsers ask
# for them (session cookie, not bearer tokens):
#   GET /                   the catalog, anonymous
#   GET /                   the catalog, signed-in customer allowlisted on 50 offerings
#   GET /?q=stor            the catalog searched, anonymous
#   GET /submissions/{id}   the submission page, as its assigned validator
# For each: requests/s, wrk's p50 and p99 (as the client sees it), and the share of requests
# the server itself answered within 1, 5, 10 and 25 ms (its own latency histogram, /metrics);
# then the catalog and submission pages again on one connection (their time without
# queueing behind each other). Then the server's RSS, the machine load, and each page's weight: the HTML and every
# stylesheet and script it references under /static/ (uncompressed, as served; recordings
# are left out). Targets: p99 <= 10 ms, weight <= 100 KB. Environment: DURATION (10s),
# CONNECTIONS (32), THREADS (2), PORT (18081); HOLD=1 keeps the server running at the end
# (for a profiler) until Ctrl-C.
set -euo pipefail
backend=${1:-sqlite}
duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}
port=${PORT:-18081}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; [ -n "${pgdb:-}" ] && psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

for tool in wrk curl jq; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install $tool"; exit 1; }
done
cd "$root"
cargo build --release -q -p vitrine -p vitrine-bench
recording=$root/crates/vitrine-blob/tests/fixtures/faststart.mp4

case "$backend" in
  sqlite) url="sqlite://$work/vitrine.db" ;;
  postgres)
    pgdb="vitrine_pages_$$"
    psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $pgdb" >/dev/null
    url="postgres://postgres@127.0.0.1:5432/$pgdb" ;;
  *) echo "usage: $0 [sqlite|postgres]"; exit 2 ;;
esac

echo "== seeding ($backend)"
start=$(date +%s)
customer_token=$(target/release/seed-catalog --database-url "$url" | tail -n 1)
echo "seeded in $(( $(date +%s) - start )) s"

BASE="http://127.0.0.1:$port"
target/release/vitrine serve --database-url "$url" --listen "127.0.0.1:$port" --data-dir "$work" \
  --test-clock --scheduler-interval-secs 0 --public-url "$BASE" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.2; done
sleep 0.5
# (kill -0: a server left over on the same port would answer /healthz instead)
{ kill -0 $server 2>/dev/null && curl -sf "$BASE/healthz" >/dev/null; } \
  || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }

# --- setting the scene (a bench may repeat a few of scripts/review-cycle.sh's calls) ---
PASSWORD="correct horse battery"
# call WHAT CURL-ARGS…: curl that prints the answer, or says what failed and why.
call() {
  local what=$1 out; shift
  out=$(curl -sS --fail-with-body "$@") || { echo "$what failed: $out" >&2; return 1; }
  printf '%s\n' "$out"
}
# api TOKEN METHOD PATH [JSON]: one API call; prints the answer, fails on an HTTP error.
api() {
  call "$2 $3" -X "$2" "$BASE$3" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' ${4:+--data "$4"}
}
# set_password EMAIL: a one-time link from the command line, confirmed through the API.
set_password() {
  local link; link=$(target/release/vitrine admin password-link --email "$1" --database-url "$url" 2>/dev/null | tail -n 1)
  call "password reset of $1" "$BASE/api/v1/auth/password-reset/confirm" -H 'Content-Type: application/json' \
    --data "$(jq -nc --arg t "${link##*token=}" --arg p "$PASSWORD" '{token:$t,new_password:$p}')" >/dev/null
}
# sign_in EMAIL JAR: a browser's sign-in; the session cookie lands in JAR.
sign_in() {
  call "sign-in of $1" -c "$2" "$BASE/api/v1/auth/sign-in" -H 'Content-Type: application/json' \
    --data "$(jq -nc --arg e "$1" --arg p "$PASSWORD" '{email:$e,password:$p}')" >/dev/null
}
# token_for EMAIL: signs in and makes a personal API token.
token_for() {
  local jar=$work/jar.$RANDOM
  sign_in "$1" "$jar"
  call "token of $1" -b "$jar" -X POST "$BASE/api/v1/me/tokens" \
    -H 'Content-Type: application/json' --data '{"name":"bench-pages"}' | jq -r .secret
}
# cookie_for EMAIL: signs in, opens the catalog once (as a browser does, which sets the CSRF
# cookie), and prints the Cookie header the browser then sends.
cookie_for() {
  local jar=$work/jar.$RANDOM
  sign_in "$1" "$jar"
  call "catalog page" -b "$jar" -c "$jar" "$BASE/" >/dev/null
  awk -F'\t' '$6 == "vitrine_session" || $6 == "vitrine_csrf" {printf "%s%s=%s", sep, $6, $7; sep="; "}' "$jar"
}

echo "== a submission in review"
# Passwords first: the one-time links are dated by the real clock, the server by the test
# clock, which is moved forward below.
set_password bench-admin@vitrine.test
ADMIN=$(token_for bench-admin@vitrine.test)
customer_email=$(api "$customer_token" GET /api/v1/me | jq -r .user.email)
set_password "$customer_email"

api "$ADMIN" POST /api/v1/users "{\"email\":\"olga@acme.example\",\"display_name\":\"Olga\",
  \"password\":\"$PASSWORD\"}" >/dev/null
api "$ADMIN" POST /api/v1/users "{\"email\":\"vera@market.example\",\"display_name\":\"Vera\",
  \"password\":\"$PASSWORD\",\"staff\":{\"admin\":false,\"validator\":true}}" >/dev/null
OLGA=$(token_for olga@acme.example)
VERA=$(token_for vera@market.example)
OLGA_ID=$(api "$OLGA" GET /api/v1/me | jq -r .user.id)
ACME=$(api "$ADMIN" POST /api/v1/accounts "{\"name\":\"Acme\",\"owner_user_id\":\"$OLGA_ID\"}" | jq -r .id)
api "$OLGA" PUT "/api/v1/accounts/$ACME/provider-application" \
  '{"legal_name":"Acme SA","contact_email":"olga@acme.example","country":"FR","website":"https://acme.example"}' >/dev/null
api "$ADMIN" POST "/api/v1/accounts/$ACME/provider-application/decision" '{"decision":"approve"}' >/dev/null
api "$OLGA" POST /api/v1/offerings "{\"provider_account_id\":\"$ACME\",\"name\":\"acme-db\",
  \"display_name\":{\"en\":\"Acme DB\"},\"description\":{\"en\":\"Managed PostgreSQL.\"},\"category\":\"databases\",
  \"documentation_url\":\"https://docs.acme.example\",\"support_contact\":\"help@acme.example\",
  \"plans\":[{\"name\":\"lite\",\"display_name\":{\"en\":\"Lite\"},\"pricing\":{\"kind\":\"free\"}}]}" >/dev/null
api "$OLGA" PUT /api/v1/offerings/acme-db/visibility '{"visibility":"limited"}' >/dev/null
for step in documentation broker_hosted authentication_flow; do
  api "$OLGA" PUT "/api/v1/offerings/acme-db/checklist/$step" '{"state":"complete"}' >/dev/null
done
SUB=$(api "$OLGA" POST /api/v1/offerings/acme-db/submissions | jq -r .submission.id)
REC=$(call "recording upload" -T "$recording" -H "Authorization: Bearer $OLGA" \
  "$BASE/api/v1/submissions/$SUB/recordings?filename=demo.mp4" | jq -r .id)
api "$OLGA" PATCH "/api/v1/submissions/$SUB" "{\"recordings\":[\"$REC\"],\"notes\":\"Round one\"}" >/dev/null
REVIEW=$(api "$OLGA" POST "/api/v1/submissions/$SUB/submit" | jq -r .schedule.review_date)
api "$ADMIN" POST /api/v1/test-clock/advance "{\"to\":\"${REVIEW}T00:00:00Z\"}" >/dev/null
api "$OLGA" POST "/api/v1/submissions/$SUB/messages" '{"body":"The demo shows provisioning at 1:20."}' >/dev/null
api "$VERA" POST "/api/v1/submissions/$SUB/messages" '{"body":"Thanks, I will look at it today."}' >/dev/null
api "$OLGA" POST "/api/v1/submissions/$SUB/messages" '{"body":"Great, tell me if anything is unclear."}' >/dev/null
echo "submission $SUB: $(api "$VERA" GET "/api/v1/submissions/$SUB" | jq -r '.submission.state'), validator $(api "$VERA" GET "/api/v1/submissions/$SUB" | jq -r '.submission.validator'), $(api "$VERA" GET "/api/v1/submissions/$SUB/messages" | jq length) messages"

# Sessions are dated by the test clock: sign in after moving it.
VERA_COOKIE=$(cookie_for vera@market.example)
CUSTOMER_COOKIE=$(cookie_for "$customer_email")

# --- measuring ---
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$1/status"; }
# buckets ROUTE: the server's histogram for GET ROUTE: requests within 1, 5, 10 ms, and all.
buckets() {
  curl -sf "$BASE/metrics" | awk -v key="method=\"GET\",route=\"$1\"," '
    index($0, "http_request_duration_seconds_bucket{") == 1 && index($0, key) {
      if (index($0, "le=\"0.001\"")) a = $NF
      if (index($0, "le=\"0.005\"")) b = $NF
      if (index($0, "le=\"0.01\""))  c = $NF
      if (index($0, "le=\"0.025\"")) d = $NF
      if (index($0, "le=\"+Inf\""))  n = $NF
    }
    END { printf "%d %d %d %d %d\n", a, b, c, d, n }'
}
pct() { awk -v a="$1" -v n="$2" 'BEGIN {print 100 * a / n}'; }
status_of() { # path [cookie]
  curl -s -o /dev/null -w '%{http_code}' ${2:+-H "Cookie: $2"} "$BASE$1"
}
run() { # name route path [cookie]
  local name=$1 route=$2 path=$3 cookie=${4:-}
  local status; status=$(status_of "$path" "$cookie")
  [ "$status" = 200 ] || echo "   warning: GET $path answers $status"
  read -r a0 b0 c0 d0 n0 < <(buckets "$route")
  wrk -t"$threads" -c"$connections" -d"$duration" --latency ${cookie:+-H "Cookie: $cookie"} \
    "$BASE$path" >"$work/wrk.txt"
  read -r a1 b1 c1 d1 n1 < <(buckets "$route")
  local rps p50 p99 errors n
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/' "$work/wrk.txt" | tr -s ' ' | tr '\n' ' ')
  n=$(( n1 - n0 )); [ "$n" -gt 0 ] || n=1
  printf "%-30s %9s req/s   p50 %8s   p99 %8s   server <=1ms %5.1f%% <=5ms %5.1f%% <=10ms %5.1f%% <=25ms %5.1f%%  %s\n" \
    "$name" "$rps" "$p50" "$p99" \
    "$(pct $(( a1 - a0 )) $n)" "$(pct $(( b1 - b0 )) $n)" "$(pct $(( c1 - c0 )) $n)" \
    "$(pct $(( d1 - d0 )) $n)" "$errors"
}

echo "== $backend, $connections connections, $threads threads, $duration each; idle RSS $(rss $server); load: $(cut -d' ' -f1-3 /proc/loadavg)"
run "catalog anonymous" "/" "/"
echo "   server RSS under load: $(rss $server)"
run "catalog customer (cookie)" "/" "/" "$CUSTOMER_COOKIE"
run "catalog search 'stor'" "/" "/?q=stor"
run "submission page (validator)" "/submissions/{id}" "/submissions/$SUB" "$VERA_COOKIE"
echo "   server RSS after load: $(rss $server); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   one connection (the time a request takes without queueing behind the others):"
connections=1 threads=1 run "catalog anonymous, 1 conn" "/" "/"
connections=1 threads=1 run "submission page, 1 conn" "/submissions/{id}" "/submissions/$SUB" "$VERA_COOKIE"

# weight NAME PATH [COOKIE]: the HTML and each /static/ stylesheet and script it references.
weight() {
  local name=$1 path=$2 cookie=${3:-}
  curl -sS ${cookie:+-H "Cookie: $cookie"} "$BASE$path" -o "$work/page.html"
  local html css=0 js=0 other=0 ref bytes
  html=$(wc -c <"$work/page.html")
  for ref in $(grep -oE '(href|src)="/static/[^"]+"' "$work/page.html" \
                 | sed -E 's/^(href|src)="//; s/"$//; s/&amp;/\&/g' | sort -u); do
    bytes=$(curl -sS "$BASE$ref" | wc -c)
    case "${ref%%\?*}" in
      *.css) css=$(( css + bytes )) ;;
      *.js) js=$(( js + bytes )) ;;
      *) other=$(( other + bytes )) ;;
    esac
  done
  local total=$(( html + css + js ))
  printf "%-30s HTML %6d  CSS %6d  JS %6d  total %6d bytes (%5.1f KB) %s   [not counted: icon %d bytes]\n" \
    "$name" "$html" "$css" "$js" "$total" "$(awk -v t="$total" 'BEGIN {print t / 1000}')" \
    "$( [ "$total" -le 100000 ] && echo "<= 100 KB" || echo "OVER 100 KB")" "$other"
}
echo "== page weight (uncompressed, as served; recordings not counted)"
weight "catalog anonymous" "/"
weight "catalog customer" "/" "$CUSTOMER_COOKIE"
weight "submission page (validator)" "/submissions/$SUB" "$VERA_COOKIE"

if [ -n "${HOLD:-}" ]; then  # keep the server for profiling (perf record -p PID, …) until Ctrl-C
  echo "== holding: server pid $server at $BASE; submission $SUB"
  echo "validator cookie: $VERA_COOKIE"
  wait "$server"
fi
