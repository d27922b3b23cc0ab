#!/usr/bin/env bash
# Build and start Stepwise: installs what is missing, makes sure PostgreSQL answers, builds the UI and
# the server, applies the migrations, creates the first administrator, serves at the printed address.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

phase "tools";      ensure_rust_tools
phase "postgres";   ensure_postgres
phase "build ui";   build_ui
phase "build server"; build_server
phase

export STEPWISE_SITE_ROOT="${STEPWISE_SITE_ROOT:-$ROOT/dist}"
bind="${STEPWISE_BIND:-127.0.0.1:3000}"
scheme=http; [ -n "${STEPWISE_TLS_CERT:-}" ] && scheme=https
cat <<MSG

Starting Stepwise on $scheme://$bind/ (Ctrl-C stops it).
Sign in as \`${STEPWISE_ADMIN_USER:-admin}\` with STEPWISE_ADMIN_PASSWORD if you set it; otherwise the
first start prints a generated password below (once). Plug-ins get a token from POST /api/auth/token.

MSG
exec "$ROOT/target/release/stepwise"
