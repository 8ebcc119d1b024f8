#!/usr/bin/env bash
# A whole go-live review cycle in a few seconds, with the test clock: an offering is
# submitted, reviewed, sent back with changes requested, resubmitted, approved and published,
# across simulated weeks. Every email it causes lands in the outbox (`.eml` files under the
# data directory's mail folder by default).
#
# Run it against a live server started with the test clock, on a fresh database, from the
# directory the server was started in (so that `admin bootstrap` opens the same database):
#
#   cargo run --release -p vitrine -- serve --test-clock     # terminal 1
#   scripts/review-cycle.sh                                  # terminal 2
#
# Needs bash, curl and jq. VITRINE_URL is where the server listens (default
# http://127.0.0.1:8080); VITRINE_BIN is the vitrine binary to run (default: build and run it
# with cargo); RECORDING is the demo video to upload (default: a tiny MP4 from the tests).
set -euo pipefail

if [[ -n "${VITRINE_BIN:-}" ]]; then
    vitrine() { "$VITRINE_BIN" "$@"; }
else
    vitrine() { cargo run -q --release -p vitrine -- "$@"; }
fi
RECORDING=${RECORDING:-$(dirname "$0")/../crates/vitrine-blob/tests/fixtures/faststart.mp4}

# --- review cycle start ---
BASE=${VITRINE_URL:-http://127.0.0.1:8080}

# api TOKEN METHOD PATH [JSON]: one API call; prints the answer, fails on an HTTP error.
api() {
  curl -sS --fail-with-body -X "$2" "$BASE$3" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' ${4:+--data "$4"}
}
# token_for EMAIL: signs in with the password and makes a personal API token.
token_for() {
  local jar; jar=$(mktemp)
  curl -sS --fail-with-body -c "$jar" "$BASE/api/v1/auth/sign-in" -H 'Content-Type: application/json' \
    --data "{\"email\":\"$1\",\"password\":\"correct horse battery\"}" >/dev/null
  curl -sS --fail-with-body -b "$jar" -X POST "$BASE/api/v1/me/tokens" \
    -H 'Content-Type: application/json' --data '{"name":"review-cycle"}' | jq -r .secret
  rm -f "$jar"
}
# advance DATE: moves the test clock to the start of DATE (UTC, the default calendar's
# zone) and runs the scheduler steps then due; prints what each step changed.
advance() {
  api "$ADMIN" POST /api/v1/test-clock/advance "{\"to\":\"$1T00:00:00Z\"}" \
    | jq -c '[.steps[] | select(.changed > 0) | .step]'
}
state() { api "$OLGA" GET "/api/v1/submissions/$SUB" | jq -r .submission.state; }

# 1. The first admin; a provider owner and a validator with passwords.
ADMIN=$(vitrine admin bootstrap --email admin@example.com --name "Ada Admin" | tail -n 1)
api "$ADMIN" POST /api/v1/users '{"email":"olga@acme.example","display_name":"Olga",
  "language":"fr","password":"correct horse battery"}' >/dev/null
api "$ADMIN" POST /api/v1/users '{"email":"vera@market.example","display_name":"Vera",
  "password":"correct horse battery","staff":{"admin":false,"validator":true}}' >/dev/null
OLGA=$(token_for olga@acme.example)
VERA=$(token_for vera@market.example)

# 2. Olga's account becomes an approved provider; her offering passes the go-live checklist
#    (listing and plan, limited visibility, three attested steps).
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

# 3. Olga reads the demo requirements, starts a submission, uploads a recording (one
#    streamed request; browsers use tus) and submits: she is told when it will be reviewed.
api "$OLGA" GET /api/v1/requirements | jq -r '.requirements[].key' | head -n 2      # catalog-listing, provision
SUB=$(api "$OLGA" POST /api/v1/offerings/acme-db/submissions | jq -r .submission.id)
upload() {
  curl -sS --fail-with-body -T "$RECORDING" -H "Authorization: Bearer $OLGA" \
    "$BASE/api/v1/submissions/$SUB/recordings?filename=demo.mp4" | jq -r .id
}
api "$OLGA" PATCH "/api/v1/submissions/$SUB" "{\"recordings\":[\"$(upload)\"],\"notes\":\"Round one\"}" >/dev/null
SCHEDULE=$(api "$OLGA" POST "/api/v1/submissions/$SUB/submit" | jq -c .schedule)
REVIEW=$(jq -r .review_date <<<"$SCHEDULE"); DECISION=$(jq -r .decision_date <<<"$SCHEDULE")
jq -c '{queue_position}' <<<"$SCHEDULE"                                        # {"queue_position":1}

# 4. Review day: the session opens and Vera gets the submission. She finds provisioning
#    missing and asks for changes; Olga sees nothing until decision day.
advance "$REVIEW"                                                              # ["open_due_sessions"]
verdicts() {  # UNMET_KEY -> one verdict per requirement
  api "$VERA" GET /api/v1/requirements | jq -c --arg unmet "$1" '[.requirements[] |
    if .key == $unmet then {requirement: .key, outcome: "not_met", comment: "Show the instance becoming ready."}
    else {requirement: .key, outcome: "met"} end]'
}
api "$VERA" POST "/api/v1/submissions/$SUB/decision" \
  "{\"decision\":\"request_changes\",\"verdicts\":$(verdicts provision)}" >/dev/null
state                                                                          # decided_pending_release
advance "$DECISION"                                                            # ["release_due_decisions"]
state                                                                          # changes_requested

# 5. Olga asks in the thread, records again and resubmits: next week's session, same validator.
api "$OLGA" POST "/api/v1/submissions/$SUB/messages" '{"body":"Is the new recording enough?"}' >/dev/null
api "$OLGA" PATCH "/api/v1/submissions/$SUB" "{\"recordings\":[\"$(upload)\"]}" >/dev/null
SCHEDULE=$(api "$OLGA" POST "/api/v1/submissions/$SUB/submit" | jq -c .schedule)
advance "$(jq -r .review_date <<<"$SCHEDULE")" >/dev/null
api "$VERA" GET /api/v1/review/assignments | jq -r '.[].offering_name'         # acme-db
api "$VERA" POST "/api/v1/submissions/$SUB/decision" \
  "{\"decision\":\"approve\",\"verdicts\":$(verdicts none)}" >/dev/null
advance "$(jq -r .decision_date <<<"$SCHEDULE")" >/dev/null
state                                                                          # approved

# 6. The admin schedules the publication for noon; at noon the offering is public.
DAY=$(jq -r .decision_date <<<"$SCHEDULE")
api "$ADMIN" POST "/api/v1/submissions/$SUB/publication" "{\"at\":\"${DAY}T12:00:00Z\"}" >/dev/null
api "$ADMIN" POST /api/v1/test-clock/advance '{"seconds":43200}' >/dev/null
state                                                                          # published
curl -sS "$BASE/api/v1/catalog/acme-db" | jq -r .name                          # acme-db

# 7. Every step is in the timeline, and every email in the outbox.
api "$OLGA" GET "/api/v1/submissions/$SUB" | jq -r '[.timeline[].action] | length'     # 14
api "$ADMIN" GET "/api/v1/outbox?limit=100" | jq -r '.items | length'          # 9
# --- review cycle end ---
