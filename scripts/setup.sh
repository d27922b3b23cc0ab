#!/usr/bin/env bash
# Shared set-up for scripts/run.sh and scripts/test.sh: installs what is missing, makes sure
# PostgreSQL answers. Every step is idempotent and quick when already done. Source it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
mkdir -p "$LOCAL"
export PATH="$HOME/.cargo/bin:$LOCAL/npm/node_modules/.bin:$PATH"

TRUNK_VERSION="0.21.14"
BINARYEN_VERSION="132.0.0"

phase_start=$(date +%s)
phase() { # phase NAME: print how long the previous phase took, then start NAME
  local now; now=$(date +%s)
  [ -n "${PHASE_NAME:-}" ] && printf '== %-28s %4ss\n' "$PHASE_NAME" "$((now - phase_start))"
  PHASE_NAME="${1:-}"; phase_start=$now
  [ -n "$PHASE_NAME" ] && echo "-- $PHASE_NAME"
  return 0
}

need_cmd() { command -v "$1" >/dev/null 2>&1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif need_cmd sudo; then sudo "$@"; else "$@"; fi; }

ensure_rust_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "installing the wasm32 target"; rustup target add wasm32-unknown-unknown
  fi
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    echo "installing trunk $TRUNK_VERSION (a few minutes, once)"
    cargo install --locked trunk --version "$TRUNK_VERSION"
  fi
  local wbg
  wbg=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' "$ROOT/Cargo.lock")
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$wbg"; then
    echo "installing wasm-bindgen-cli $wbg (a few minutes, once)"
    # Not --locked: its lock file wants a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "$wbg"
  fi
  # Debian's binaryen 108 breaks the bundle; npm's 132 works.
  if ! "$LOCAL/npm/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
    echo "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)"
    mkdir -p "$LOCAL/npm"
    (cd "$LOCAL/npm" && [ -f package.json ] || echo '{"private":true}' > package.json)
    npm install --prefix "$LOCAL/npm" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  fi
}

# PostgreSQL: the local service at 127.0.0.1:5432; start it when it is down; where only the
# binaries exist, a private cluster in .local/pg on port 5433.
ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ] && [ -z "${STEPWISE_LOCAL_PG:-}" ]; then
    export PG_ADMIN_URL="${PG_ADMIN_URL:-${DATABASE_URL%/*}/postgres}"
    return 0
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    export PG_BASE_URL="postgres://postgres@127.0.0.1:5432"
  elif [ -d /etc/postgresql ] && need_cmd pg_ctlcluster && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "starting the local PostgreSQL service"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not start" >&2; return 1; }
    export PG_BASE_URL="postgres://postgres@127.0.0.1:5432"
  else
    private_cluster
    export PG_BASE_URL="postgres://postgres@127.0.0.1:5433"
  fi
  export DATABASE_URL="${DATABASE_URL:-$PG_BASE_URL/stepwise}"
  export PG_ADMIN_URL="$PG_BASE_URL/postgres"
}

private_cluster() {
  local bin data="$LOCAL/pg"
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; return 1; }
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    run=(runuser -u postgres --)
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    echo "creating a private PostgreSQL cluster in $data"
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5433; then
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-p 5433 -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
  fi
}

build_ui() {
  (cd "$ROOT" && trunk build --release)
}

build_server() {
  (cd "$ROOT" && cargo build --release -p server)
}
