#!/usr/bin/env bash
# End-to-end tests with the official OpenAI and Anthropic Python SDKs as real clients: starts the
# mock provider, two data-plane processes, the control plane and the platform service (debug build) against the PostgreSQL and Redis that
# scripts/test started, bootstraps an org, and runs pytest. Called by scripts/test.
# RUNGATE_E2E_BIN=folder runs other builds of the executables, e.g. the release build users run:
#   RUNGATE_E2E_BIN="$(scripts/build-release --show-bin-path)" ./scripts/test
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

: "${RUNGATE_TEST_DATABASE_URL:?run through ./scripts/test}"
WORK=${E2E_WORK:?}
BIN="${RUNGATE_E2E_BIN:-$(swift build --show-bin-path)}"
mkdir -p "$WORK/logs"

# A virtualenv with the SDKs, cached between runs (pip is the only network use: PyPI).
VENV="$ROOT/.build/e2e-venv"
if [ ! -x "$VENV/bin/pytest" ] || ! "$VENV/bin/python" -c 'import openai, anthropic, schemathesis, selenium' 2>/dev/null; then
  say "creating the e2e virtualenv (openai, anthropic, pytest, schemathesis, selenium)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tests/e2e/requirements.txt"
fi

OWNER_URL=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme,p.netloc,"/rungate_e2e",p.query,"")))' "$RUNGATE_TEST_DATABASE_URL")
psql_super "$RUNGATE_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS rungate_e2e WITH (FORCE)" -c "CREATE DATABASE rungate_e2e"
RUNGATE_DATABASE_URL="$OWNER_URL" "$BIN/rungate-control" migrate --migrations-dir "$ROOT/migrations" --log-format text --log-level warning
ROLE_PW=$(random_secret)
set_role_passwords "$OWNER_URL" "$ROLE_PW" "$ROLE_PW" "$ROLE_PW"
DATA_DB_URL=$(role_url "$OWNER_URL" rungate_data "$ROLE_PW")
CONTROL_DB_URL=$(role_url "$OWNER_URL" rungate_control "$ROLE_PW")
PLATFORM_DB_URL=$(role_url "$OWNER_URL" rungate_platform "$ROLE_PW")

export RUNGATE_MASTER_KEY="k1:$(python3 -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')"
MOCK_PORT=$(free_port); DATA_PORT=$(free_port); DATA2_PORT=$(free_port); CONTROL_PORT=$(free_port); PLATFORM_PORT=$(free_port)
NOREDIS_PORT=$(free_port); FAILOPEN_PORT=$(free_port); SINGLE_PORT=$(free_port); OTLP_PORT=$(free_port)
PIDS=()
# SIGTERM drains; the mock may still hold the deliberately unanswered "timeout" request, so whatever
# has not exited after 5 s is killed.
stop_all() {
  forget_ports
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0; for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0; sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

"$BIN/rungate-mock-provider" --port "$MOCK_PORT" --log-level warning >"$WORK/logs/mock.log" 2>&1 &
PIDS+=($!)
for port in "$DATA_PORT" "$DATA2_PORT"; do
  # A small step buffer, so the PostgreSQL outage test sees steps go through the disk spool.
  RUNGATE_DATABASE_URL="$DATA_DB_URL" RUNGATE_REDIS_URL="$RUNGATE_TEST_REDIS_URL" RUNGATE_MAX_BODY_BYTES=262144 \
    RUNGATE_SPOOL_DIR="$WORK/spool-$port" RUNGATE_STEP_BUFFER_BYTES=32768 RUNGATE_UPSTREAM_READ_TIMEOUT_SECONDS=2 RUNGATE_TOKEN_USAGE_FLUSH_SECONDS=1 "$BIN/rungate-data" --port "$port" >"$WORK/logs/data-$port.log" 2>&1 &
  PIDS+=($!)
done
# An OTLP/HTTP collector stand-in that records what it gets (tests decode it).
python3 "$ROOT/tests/e2e/receiver.py" "$OTLP_PORT" "$WORK/otlp.jsonl" >"$WORK/logs/otlp.log" 2>&1 &
PIDS+=($!)
# Webhook receivers run on loopback here, so private URLs are allowed; deliveries retry fast.
RUNGATE_DATABASE_URL="$CONTROL_DB_URL" RUNGATE_REDIS_URL="$RUNGATE_TEST_REDIS_URL" RUNGATE_ALLOW_PRIVATE_URLS=true \
  RUNGATE_PUBLIC_URL="http://127.0.0.1:$CONTROL_PORT" RUNGATE_WEBHOOK_POLL_MS=100 RUNGATE_WEBHOOK_RETRY_BASE_MS=300 \
  RUNGATE_WEBHOOK_TIMEOUT_SECONDS=3 RUNGATE_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" RUNGATE_TRACE_IDLE_SECONDS=2 \
  RUNGATE_TRACE_POLL_MS=200 "$BIN/rungate-control" serve --port "$CONTROL_PORT" >"$WORK/logs/control.log" 2>&1 &
PIDS+=($!)
# The platform service has no master key: it never decrypts anything.
env -u RUNGATE_MASTER_KEY RUNGATE_DATABASE_URL="$PLATFORM_DB_URL" RUNGATE_REDIS_URL="$RUNGATE_TEST_REDIS_URL" \
  "$BIN/rungate-platform" serve --port "$PLATFORM_PORT" >"$WORK/logs/platform.log" 2>&1 &
PIDS+=($!)
# Two data planes whose Redis is unreachable: one fails closed (the default), one lets rate limits pass.
for spec in "$NOREDIS_PORT:false" "$FAILOPEN_PORT:true"; do
  RUNGATE_DATABASE_URL="$DATA_DB_URL" RUNGATE_REDIS_URL="redis://127.0.0.1:1/0" RUNGATE_RATE_LIMITS_FAIL_OPEN="${spec#*:}" RUNGATE_SPOOL_DIR=none \
    "$BIN/rungate-data" --port "${spec%%:*}" >"$WORK/logs/data-${spec%%:*}.log" 2>&1 &
  PIDS+=($!)
done
# A single node: no Redis configured at all, so its counters live in process (DESIGN's single-node mode).
env -u RUNGATE_REDIS_URL RUNGATE_DATABASE_URL="$DATA_DB_URL" RUNGATE_SPOOL_DIR=none \
  "$BIN/rungate-data" --port "$SINGLE_PORT" >"$WORK/logs/data-$SINGLE_PORT.log" 2>&1 &
PIDS+=($!)
wait_ready "http://127.0.0.1:$MOCK_PORT/healthz" mock-provider
wait_ready "http://127.0.0.1:$SINGLE_PORT/readyz" rungate-data-single-node
wait_ready "http://127.0.0.1:$NOREDIS_PORT/healthz" rungate-data-without-redis
wait_ready "http://127.0.0.1:$FAILOPEN_PORT/healthz" rungate-data-fail-open
wait_ready "http://127.0.0.1:$PLATFORM_PORT/readyz" rungate-platform
wait_ready "http://127.0.0.1:$CONTROL_PORT/readyz" rungate-control
wait_ready "http://127.0.0.1:$DATA_PORT/readyz" rungate-data
wait_ready "http://127.0.0.1:$DATA2_PORT/readyz" rungate-data-2

CREDENTIALS=$(RUNGATE_DATABASE_URL="$CONTROL_DB_URL" RUNGATE_OWNER_PASSWORD="e2e-owner-password-123" \
  "$BIN/rungate-control" bootstrap --log-format text --log-level warning --provider-base-url "http://127.0.0.1:$MOCK_PORT/v1")
eval "export $(echo "$CREDENTIALS" | tr '\n' ' ')"

export E2E_OTLP_FILE="$WORK/otlp.jsonl" E2E_WORK="$WORK" E2E_BIN="$BIN" E2E_DATA_DB_URL="$DATA_DB_URL"
export E2E_SPOOL_DIRS="$WORK/spool-$DATA_PORT:$WORK/spool-$DATA2_PORT"
export E2E_DATA_URL="http://127.0.0.1:$DATA_PORT" E2E_DATA2_URL="http://127.0.0.1:$DATA2_PORT" E2E_CONTROL_URL="http://127.0.0.1:$CONTROL_PORT"
PLATFORM_TOKEN=$(RUNGATE_DATABASE_URL="$PLATFORM_DB_URL" "$BIN/rungate-platform" create-token --name e2e --log-format text --log-level warning \
  | sed -n 's/^RUNGATE_PLATFORM_TOKEN=//p')
export E2E_PLATFORM_URL="http://127.0.0.1:$PLATFORM_PORT" E2E_PLATFORM_TOKEN="$PLATFORM_TOKEN"
export E2E_NOREDIS_URL="http://127.0.0.1:$NOREDIS_PORT" E2E_FAILOPEN_URL="http://127.0.0.1:$FAILOPEN_PORT"
export E2E_SINGLE_NODE_URL="http://127.0.0.1:$SINGLE_PORT" E2E_SINGLE_NODE_LOG="$WORK/logs/data-$SINGLE_PORT.log"
export E2E_OWNER_PASSWORD="e2e-owner-password-123" E2E_SECRETS_FILE="$WORK/secrets.txt"
# Every secret of the run, so that the end can check none of them reached a log.
echo "$CREDENTIALS" | sed -n 's/^RUNGATE_[A-Z_]*TOKEN=//p' > "$E2E_SECRETS_FILE"
echo "$E2E_OWNER_PASSWORD" >> "$E2E_SECRETS_FILE"
echo "$PLATFORM_TOKEN" >> "$E2E_SECRETS_FILE"
export E2E_MOCK_URL="http://127.0.0.1:$MOCK_PORT" E2E_OWNER_DATABASE_URL="$OWNER_URL"
say "running the SDK end-to-end tests"
status=0
"$VENV/bin/pytest" -q -p no:cacheprovider ${RUNGATE_E2E_ONLY:+-k "$RUNGATE_E2E_ONLY"} "$ROOT/tests/e2e" 2>&1 | tee "$WORK/pytest.log" || status=$?
# No secret the suite handled (tokens, provider keys, passwords) appears in any process's log.
while read -r secret; do
  [ -n "$secret" ] || continue
  if grep -rlF -- "$secret" "$WORK/logs" >/dev/null; then
    echo "a secret (${secret:0:11}…) appears in $(grep -rlF -- "$secret" "$WORK/logs" | xargs -n1 basename | tr '\n' ' ')" >&2
    status=1
  fi
done < "$E2E_SECRETS_FILE"
if [ $status -ne 0 ]; then
  for log in "$WORK"/logs/data-*.log; do
    echo "--- $(basename "$log" .log) log (last 25 lines)" >&2; tail -n 25 "$log" >&2
  done
  echo "--- control-plane log (last 40 lines)" >&2; tail -n 40 "$WORK/logs/control.log" >&2
  # Repeated last: a CI log may keep only its tail.
  echo "--- the failures again" >&2; grep -E '^(FAILED|ERROR) |^E  ' "$WORK/pytest.log" | tail -n 30 >&2 || true
fi
exit $status
