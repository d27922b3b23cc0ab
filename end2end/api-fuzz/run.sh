#!/usr/bin/env bash
# Fuzz the native REST API from its own OpenAPI document with schemathesis, as the administrator:
# no answer may be a 5xx, and every status code, content type, header and body must be one the
# document lists; a call without a token must be refused. Not checked here: that every request the
# schema allows is accepted and every other refused (docs/decisions.md lists the refusals that are
# by design: wrong credentials, a cursor the server did not give out, a reused Idempotency-Key...).
#
#   end2end/api-fuzz/run.sh URL ADMIN_PASSWORD [SCHEMATHESIS]
# STEPWISE_FUZZ_EXAMPLES (default 25) cases per operation and phase, STEPWISE_FUZZ_SEED (default 1).
# One worker: CPython 3.11 keeps the AST converter's recursion counter per interpreter, not per
# thread, and with two workers Hypothesis parses lambdas' source in two threads at once; a run then
# fails now and then with "AST constructor recursion depth mismatch" (cpython gh-106905).
set -euo pipefail
url=$1
password=$2
st=${3:-schemathesis}
token=$(curl -fsS -X POST "$url/api/auth/token" --data-urlencode grant_type=password \
  --data-urlencode username=admin --data-urlencode "password=$password" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
common=(
  --header "Authorization: Bearer $token"
  --exclude-checks negative_data_rejection,positive_data_acceptance
  --phases examples,coverage,fuzzing
  --max-examples "${STEPWISE_FUZZ_EXAMPLES:-25}"
  --seed "${STEPWISE_FUZZ_SEED:-1}"
  --generation-database none
  --workers 1
)
"$st" run "$url/api/openapi.json" "${common[@]}" --exclude-path /api/events
# The event stream does not end: each request is cut after a second, its frames checked until then.
"$st" run "$url/api/openapi.json" "${common[@]}" --include-path /api/events --request-timeout 1
