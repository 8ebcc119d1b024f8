#!/usr/bin/env bash
# The README's walkthrough, runnable: from the first admin to a limited offering that an
# allowlisted customer sees and another customer does not.
#
# Run it against a live server on a fresh database, from the directory the server was
# started in (so that `admin bootstrap` opens the same database):
#
#   cargo run --release -p vitrine -- serve     # terminal 1
#   scripts/walkthrough.sh                      # terminal 2
#
# Needs bash, curl and jq. VITRINE_URL is where the server listens (default
# http://127.0.0.1:8080); VITRINE_BIN is the vitrine binary to run (default: build and run it
# with cargo). `admin bootstrap` reads the same VITRINE_* settings as `serve`.
set -euo pipefail

if [[ -n "${VITRINE_BIN:-}" ]]; then
    vitrine() { "$VITRINE_BIN" "$@"; }
else
    vitrine() { cargo run -q --release -p vitrine -- "$@"; }
fi

# --- walkthrough start (README.md shows this part verbatim) ---
BASE=${VITRINE_URL:-http://127.0.0.1:8080}

# api TOKEN METHOD PATH [JSON]: one API call; prints the answer, fails on an HTTP error.
api() {
  curl -sS --fail-with-body -X "$2" "$BASE$3" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' ${4:+--data "$4"}
}

# 1. The first admin. The token is the last line of the output.
ADMIN=$(vitrine admin bootstrap --email admin@example.com --name "Ada Admin" | tail -n 1)

# 2. The admin creates three users with passwords, and an account owned by each.
new_user() {  # EMAIL NAME -> user id
  api "$ADMIN" POST /api/v1/users \
    "{\"email\":\"$1\",\"display_name\":\"$2\",\"password\":\"correct horse battery\"}" | jq -r .id
}
new_account() {  # NAME OWNER_ID -> account id
  api "$ADMIN" POST /api/v1/accounts "{\"name\":\"$1\",\"owner_user_id\":\"$2\"}" | jq -r .id
}
OLGA=$(new_user olga@acme.example "Olga Owner")
ALICE=$(new_user alice@alpha.example "Alice")
BOB=$(new_user bob@beta.example "Bob")
ACME=$(new_account "Acme Databases" "$OLGA")
ALPHA=$(new_account "Alpha Corp" "$ALICE")
BETA=$(new_account "Beta Corp" "$BOB")

# 3. Each user signs in with their password and creates a personal API token.
token_for() {  # EMAIL -> API token
  local jar; jar=$(mktemp)
  curl -sS --fail-with-body -c "$jar" "$BASE/api/v1/auth/sign-in" -H 'Content-Type: application/json' \
    --data "{\"email\":\"$1\",\"password\":\"correct horse battery\"}" >/dev/null
  curl -sS --fail-with-body -b "$jar" -X POST "$BASE/api/v1/me/tokens" \
    -H 'Content-Type: application/json' --data '{"name":"walkthrough"}' | jq -r .secret
  rm -f "$jar"
}
OLGA_TOKEN=$(token_for olga@acme.example)
ALICE_TOKEN=$(token_for alice@alpha.example)
BOB_TOKEN=$(token_for bob@beta.example)

# 4. Olga applies for Acme to become a provider; the admin approves.
api "$OLGA_TOKEN" PUT "/api/v1/accounts/$ACME/provider-application" \
  '{"legal_name":"Acme Databases SA","contact_email":"olga@acme.example","country":"FR","website":"https://acme.example"}' >/dev/null
api "$ADMIN" POST "/api/v1/accounts/$ACME/provider-application/decision" '{"decision":"approve"}' >/dev/null

# 5. Olga creates an offering with a plan (it starts private), makes it limited and
#    allowlists Alice's account.
api "$OLGA_TOKEN" POST /api/v1/offerings "{
  \"provider_account_id\": \"$ACME\", \"name\": \"acme-db\",
  \"display_name\": {\"en\": \"Acme DB\"}, \"description\": {\"en\": \"Managed PostgreSQL.\"},
  \"plans\": [{\"name\": \"lite\", \"display_name\": {\"en\": \"Lite\"}, \"pricing\": {\"kind\": \"free\"}}]
}" >/dev/null
api "$OLGA_TOKEN" PUT /api/v1/offerings/acme-db/visibility '{"visibility":"limited"}' >/dev/null
api "$OLGA_TOKEN" PUT /api/v1/offerings/acme-db/allowlist "{\"account_ids\":[\"$ALPHA\"]}" >/dev/null

# 6. Alice sees it in the catalog; Bob gets an empty list, and 404 on its page.
api "$ALICE_TOKEN" GET /api/v1/catalog | jq -r '.items[].name'                  # acme-db
api "$BOB_TOKEN" GET /api/v1/catalog | jq -c '{items, total}'                   # {"items":[],"total":0}
curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $BOB_TOKEN" \
  "$BASE/api/v1/catalog/acme-db"                                                # 404
# --- walkthrough end ---
