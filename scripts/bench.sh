#!/usr/bin/env bash
# Benchmarks on one machine, one fresh database: PostgreSQL's own single-row insert rate (the limit, run with the writes),
# REST writes at 1/8/32 clients, reads at 1M jobs / 5M steps, event delivery lag, server memory, the
# wasm bundle. Writes the results to .local/bench-<date>.md. Not a test: a measurement.
#   BENCH_SECONDS (10) per write measurement, BENCH_JOBS (1000000) jobs seeded,
#   BENCH_ONLY (reads, writes or events) to run one part; BENCH_OP ("add job", "add step",
#   "end step" or "set progress") and BENCH_CLIENTS (1, 8 or 32) to narrow the writes, for profiling.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
seconds="${BENCH_SECONDS:-10}"
jobs="${BENCH_JOBS:-1000000}"
out="$LOCAL/bench-$(date +%Y-%m-%d-%H%M).md"

phase "tools";    ensure_rust_tools
phase "postgres"; ensure_postgres
phase "build";    build_ui; cargo build --release -p server --bins
phase "database"
db=stepwise_bench
psql -q "$PG_ADMIN_URL" -c "drop database if exists $db with (force)" -c "create database $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export STEPWISE_ADMIN_PASSWORD="bench-$RANDOM-$RANDOM"
DATABASE_URL="$PG_BASE_URL/$db" STEPWISE_BIND="127.0.0.1:$port" STEPWISE_SITE_ROOT="$ROOT/dist" RUST_LOG=warn \
  STEPWISE_DB_MAX_CONNECTIONS=40 "$ROOT/target/release/stepwise" > "$LOCAL/bench-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.5; done

{
  echo "# Stepwise benchmark"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $(git rev-parse --short HEAD)"
  echo "- machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME"); $(psql -Atc 'select version()' "$PG_ADMIN_URL" | cut -d, -f1)"
  echo "- server: release build, loopback, keep-alive, bearer-authenticated; $seconds s per write measurement"
  echo
} | tee "$out"

phase "the limit's script"
psql -q "$PG_BASE_URL/$db" -c "create table if not exists bench_step (like step including defaults)" >/dev/null
cat > "$LOCAL/bench-insert.sql" <<'SQL'
insert into bench_step (id, job_id, number, depth, step_type, description, status, is_external)
values (gen_random_uuid(), gen_random_uuid(), 0, 1, 'executing', 'a step of a benchmark', 'started', true);
SQL

phase "stepwise-bench"
"$ROOT/target/release/stepwise-bench" --url "http://127.0.0.1:$port" --database-url "$PG_BASE_URL/$db" \
  --seconds "$seconds" --jobs "$jobs" --server-pid "$server" --pgbench-script "$LOCAL/bench-insert.sql" ${BENCH_ONLY:+--only "$BENCH_ONLY"} \
  ${BENCH_OP:+--op "$BENCH_OP"} ${BENCH_CLIENTS:+--clients "$BENCH_CLIENTS"} | tee -a "$out"

wasm=$(ls dist/*.wasm | head -1)
{
  echo
  echo "### Footprint"
  echo
  echo "- wasm bundle: $(( $(stat -c %s "$wasm") / 1024 )) KB raw, $(( $(gzip -9 -c "$wasm" | wc -c) / 1024 )) KB gzipped"
} | tee -a "$out"
phase
echo "Results: $out"
