#!/usr/bin/env bash
# All of Stepwise's tests: formatting, lints (server and wasm), Rust tests against a real PostgreSQL
# (a fresh database per test), then against the release server: the oVirt SDK and Ansible, the
# Playwright suite in Chromium, and schemathesis fuzzing the REST API from its OpenAPI document.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
started=$(date +%s)

ensure_browser() {
  if ! [ -x /usr/bin/chromium ]; then
    echo "installing Debian's Chromium"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium fonts-liberation >/dev/null
  fi
  if ! [ -x "$LOCAL/venv/bin/pytest" ] || ! "$LOCAL/venv/bin/python" -c 'import ovirtsdk4, ansible' 2>/dev/null; then
    echo "installing the oVirt Python SDK, its Ansible modules and pytest in .local/venv"
    python3 -m venv "$LOCAL/venv"
    "$LOCAL/venv/bin/pip" install -q -r end2end/ovirt-sdk/requirements.txt
  fi
  # schemathesis wants a newer pytest than the SDK's tests pin: a venv of its own.
  if ! [ -x "$LOCAL/fuzz-venv/bin/schemathesis" ]; then
    echo "installing schemathesis in .local/fuzz-venv"
    python3 -m venv "$LOCAL/fuzz-venv"
    "$LOCAL/fuzz-venv/bin/pip" install -q -r end2end/api-fuzz/requirements.txt
  fi
  if ! [ -d end2end/node_modules/@playwright/test ]; then
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
  fi
}

phase "tools";            ensure_rust_tools; ensure_browser
phase "postgres";         ensure_postgres
phase "fmt";              cargo fmt --all -- --check
phase "clippy (server)";  cargo clippy -p server -p app --all-targets -- -D warnings
phase "clippy (wasm)";    cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
phase "rust tests"
# #[sqlx::test] makes a fresh, migrated database per test from this server.
DATABASE_URL="$PG_BASE_URL/postgres" cargo test -p server -p app
phase "build ui";         build_ui
phase "build server";     build_server
phase "start server"
db="stepwise_e2e_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export STEPWISE_E2E_PASSWORD="e2e-$$-$RANDOM"
DATABASE_URL="$PG_BASE_URL/$db" STEPWISE_BIND="127.0.0.1:$port" STEPWISE_SITE_ROOT="$ROOT/dist" \
  STEPWISE_ADMIN_PASSWORD="$STEPWISE_E2E_PASSWORD" RUST_LOG=warn \
  "$ROOT/target/release/stepwise" > "$LOCAL/e2e-server.log" 2>&1 &
server_pid=$!
# A second process on the same database serving HTTPS, for the SDK's test over TLS: its own
# self-signed certificate, made afresh each run.
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$LOCAL/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "$LOCAL/tls/key.pem" -out "$LOCAL/tls/cert.pem" 2>/dev/null
tls_pid=""
cleanup() {
  kill "$server_pid" $tls_pid 2>/dev/null || true
  wait "$server_pid" $tls_pid 2>/dev/null || true
  psql -q "$PG_ADMIN_URL" -c "drop database if exists $db with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$LOCAL/e2e-server.log"; exit 1; }
  sleep 0.5
done
DATABASE_URL="$PG_BASE_URL/$db" STEPWISE_BIND="127.0.0.1:$tls_port" STEPWISE_SITE_ROOT="$ROOT/dist" \
  STEPWISE_TLS_CERT="$LOCAL/tls/cert.pem" STEPWISE_TLS_KEY="$LOCAL/tls/key.pem" RUST_LOG=warn \
  "$ROOT/target/release/stepwise" > "$LOCAL/e2e-tls-server.log" 2>&1 &
tls_pid=$!
for _ in $(seq 1 60); do
  curl -fsS --cacert "$LOCAL/tls/cert.pem" "https://127.0.0.1:$tls_port/healthz" >/dev/null 2>&1 && break
  kill -0 "$tls_pid" 2>/dev/null || { cat "$LOCAL/e2e-tls-server.log"; exit 1; }
  sleep 0.5
done
phase "ovirt sdk"
(cd end2end/ovirt-sdk && STEPWISE_URL="http://127.0.0.1:$port" STEPWISE_TLS_URL="https://127.0.0.1:$tls_port" \
  STEPWISE_TLS_CA="$LOCAL/tls/cert.pem" "$LOCAL/venv/bin/pytest" -q -p no:cacheprovider)
phase "playwright"
(cd end2end && STEPWISE_URL="http://127.0.0.1:$port" STEPWISE_TLS_URL="https://127.0.0.1:$tls_port" npx playwright test)
phase "api fuzz"
# Last: it signs in and writes at random as the administrator. Its cache stays in .local.
mkdir -p "$LOCAL/api-fuzz"
(cd "$LOCAL/api-fuzz" && "$ROOT/end2end/api-fuzz/run.sh" "http://127.0.0.1:$port" \
  "$STEPWISE_E2E_PASSWORD" "$LOCAL/fuzz-venv/bin/schemathesis")
phase
echo "== total                        $(( $(date +%s) - started ))s"
