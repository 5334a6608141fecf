# Shared by the benchmark scripts: a release build, a throw-away PostgreSQL (migrated, roles with
# passwords) and Redis in a work folder, a master key, and a fixed-answer upstream (nginx).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

# The cheapest possible upstream: nginx answering a fixed chat completion.
BENCH_ANSWER='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"This is a fixed benchmark answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}'
BENCH_BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short."}]}'
# RUNGATE_BENCH_BODY_BYTES=N: an agent's request instead — a system prompt, two tool definitions
# and a conversation of user, assistant and tool turns — of about N bytes (40000 is a long agent run).
# The model and the answer stay the same; the text holds no secret the bench policy's content rule
# blocks, so each rule reads the whole of it.
if [ -n "${RUNGATE_BENCH_BODY_BYTES:-}" ]; then
  BENCH_BODY=$(python3 - "$RUNGATE_BENCH_BODY_BYTES" <<'PY'
import json, random, sys
target = int(sys.argv[1])
rng = random.Random(7)  # the same body every run, so runs compare
words = ("the agent reads a file then summarises what changed in the build and asks whether the "
         "tests still pass after the migration of the billing service to the new queue").split()
text = lambda n: " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."
tools = [{"type": "function", "function": {"name": name, "description": text(20), "parameters": {"type": "object",
          "properties": {"path": {"type": "string"}}, "required": ["path"]}}} for name in ("read_file", "run_tests")]
body = {"model": "gpt-4o-mini", "tools": tools, "messages": [{"role": "system", "content": text(120)}]}
turn = 0
while len(json.dumps(body, separators=(",", ":"))) < target:
    turn += 1
    body["messages"] += [
        {"role": "user", "content": text(60)},
        {"role": "assistant", "content": None, "tool_calls": [{"id": f"call_{turn}", "type": "function",
         "function": {"name": "read_file", "arguments": json.dumps({"path": f"src/module{turn}.swift"})}}]},
        {"role": "tool", "tool_call_id": f"call_{turn}", "content": text(90)},
        {"role": "assistant", "content": text(40)}]
print(json.dumps(body, separators=(",", ":")))
PY
)
fi
# Set by bench_govern: data planes started afterwards are checked to enforce the bench policy.
BENCH_GOVERNED=0

# bench_setup NAME: sets WORK, PIDS, BIN, OWNER_URL, ROLE_PW, REDIS_PORT; cleans up on exit.
bench_setup() {
  ensure_packages
  command -v nginx >/dev/null 2>&1 && command -v wrk >/dev/null 2>&1 || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null; }
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  WORK=$(mktemp -d "/tmp/rungate-$1.XXXXXX")
  chmod 755 "$WORK"
  PIDS=()
  trap bench_cleanup EXIT
  # What the results were measured on, for the reports the scripts append to RESULTS.md.
  export BENCH_MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"

  # Built as users run it (scripts/build-release: the Swift runtime linked in statically, the data
  # plane's hot functions laid out together; both measured faster).
  say "building (release, static Swift runtime)"
  release_build >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log"; die "build failed"; }
  BIN=$RELEASE_BIN

  local pg_port pg_password
  pg_port=$(free_port); REDIS_PORT=$(free_port); pg_password=$(random_secret)
  start_postgres "$WORK/postgres" "$pg_port" "$pg_password"
  start_redis "$WORK/redis" "$REDIS_PORT"
  psql_super "postgres://postgres:$pg_password@127.0.0.1:$pg_port/postgres?sslmode=disable" -c "CREATE DATABASE rungate"
  OWNER_URL="postgres://postgres:$pg_password@127.0.0.1:$pg_port/rungate?sslmode=disable"
  RUNGATE_DATABASE_URL="$OWNER_URL" "$BIN/rungate-control" migrate --migrations-dir "$ROOT/migrations" --log-level warning
  ROLE_PW=$(random_secret)
  set_role_passwords "$OWNER_URL" "$ROLE_PW" "$ROLE_PW" "$ROLE_PW"
  export RUNGATE_MASTER_KEY="k1:$(python3 -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')"
}

bench_cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Each data plane drains (its steps, budget spend, settles) while PostgreSQL and Redis still answer:
  # stopped under it, it would keep the machine busy for its drain limits into the next benchmark.
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  stop_postgres "$WORK/postgres"; stop_redis "$WORK/redis"
  forget_ports
  sleep 0.5; rm -rf "$WORK"
}

# bench_data_plane PORT [COMMAND...]: starts the data plane (COMMAND, by default this tree's release
# build; e.g. a copy under valgrind) on PORT against the bench database and Redis, its output added
# to $WORK/data.log, and waits until it is ready (and, after bench_govern, until it enforces the
# bench policy); sets DATA_PID.
bench_data_plane() {
  local port=$1; shift
  [ $# -gt 0 ] || set -- "$BIN/rungate-data"
  RUNGATE_DATABASE_URL="$(role_url "$OWNER_URL" rungate_data "$ROLE_PW")" RUNGATE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
    "$@" --port "$port" --spool-dir "$WORK/spool" --log-level warning >>"$WORK/data.log" 2>&1 &
  DATA_PID=$!; PIDS+=($DATA_PID)
  wait_ready "http://127.0.0.1:$port/readyz" rungate-data
  if [ "$BENCH_GOVERNED" = 1 ]; then bench_check_governed "$port"; fi
}

# bench_stop_data_plane: stops the data plane bench_data_plane started last, if any (gracefully: its
# steps are written first).
bench_stop_data_plane() {
  [ -n "${DATA_PID:-}" ] || return 0
  kill -TERM "$DATA_PID"
  wait "$DATA_PID" 2>/dev/null || true
}

# bench_nginx SERVERS: starts nginx with the given server/upstream blocks (http context).
bench_nginx() {
  mkdir -p "$WORK/nginx"
  cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx; fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  keepalive_requests 1000000;
  # Request bodies held in memory (the default, 16 KB, sends larger ones to a temporary file).
  client_body_buffer_size 1m;
  $1
}
CONF
  "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx.conf"
}

# bench_place LAYOUT DATA_PID...: the CPU affinity of every thread of nginx, Redis and the given data
# planes (the processes a call goes through), and of PostgreSQL. `shared`: every core, where the
# kernel puts them; `one-core`: the call's chain on core 0 and PostgreSQL on core 1, as if it ran on a
# host of its own. (On a VM whose idle vCPUs halt, a hop to the halted one costs ~45 µs and the shared
# figures carry it a varying number of times: bench/RESULTS.md, session 25.) Sets WRK_CPUS, the cores
# for wrk.
bench_place() {
  local layout=$1 chain store pid; shift
  chain=0-$(( $(nproc) - 1 )); store=$chain
  if [ "$layout" = one-core ]; then
    [ "$(nproc)" -ge 2 ] || die "the one-core layout needs two cores (one for the call's chain, one for PostgreSQL)"
    chain=0; store=1
  fi
  for pid in $(bench_with_children "$(cat "$WORK/nginx.pid")" "$@" "$(cat "$WORK/redis/redis.pid")"); do
    taskset -a -p -c "$chain" "$pid" >/dev/null 2>&1 || true
  done
  for pid in $(bench_with_children "$(head -n 1 "$WORK/postgres/data/postmaster.pid")"); do
    taskset -a -p -c "$store" "$pid" >/dev/null 2>&1 || true
  done
  WRK_CPUS=$chain
}

# bench_with_children PID...: the processes and their children (nginx's workers, PostgreSQL's backends).
bench_with_children() { local pid; for pid in "$@"; do echo "$pid"; pgrep -P "$pid" || true; done; }

# bench_settle: waits until the data planes have written what the last measurement recorded (steps
# are flushed in the background, seconds after the calls): without it the next measurement — whatever
# it measures — shares the machine with the previous one's database writes.
bench_settle() {
  local before after
  after=$(psql_super "$OWNER_URL" -tAc "SELECT count(*) FROM steps")
  for _ in $(seq 120); do
    sleep 0.5
    before=$after
    after=$(psql_super "$OWNER_URL" -tAc "SELECT count(*) FROM steps")
    [ "$before" = "$after" ] && return 0
  done
}

# bench_spooled PORT: how many steps the data plane on PORT has spilled to its disk spool since it
# started. Not zero means its recorder fell behind the calls (or PostgreSQL went away): a figure
# measured meanwhile includes the spool's work.
bench_spooled() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '$1 == "rungate_steps_spooled_total" { n = $2 } END { printf "%d\n", n }'
}

# bench_fixed_server PORT: an nginx server block answering BENCH_ANSWER.
bench_fixed_server() {
  echo "server { listen 127.0.0.1:$1; location / { default_type application/json; return 200 '$BENCH_ANSWER'; } }"
}

# bench_fixed_stream_server PORT: an nginx server block answering a streamed chat completion (two
# content chunks, a usage chunk and [DONE], all at once), for streamed calls (bench/instructions streaming).
bench_fixed_stream_server() {
  local chunk='{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini"'
  echo "server { listen 127.0.0.1:$1; location / { default_type text/event-stream; return 200 'data: $chunk,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"This is a fixed\"},\"finish_reason\":null}]}

data: $chunk,\"choices\":[{\"index\":0,\"delta\":{\"content\":\" benchmark answer.\"},\"finish_reason\":\"stop\"}]}

data: $chunk,\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}

data: [DONE]

'; } }"
}

# bench_proxy_server NAME PROXY_PORT UPSTREAM_PORT: the plain nginx reverse proxy the data plane is
# compared with — an upstream block NAME (keep-alive connections) and a server on PROXY_PORT.
bench_proxy_server() {
  echo "upstream $1 { server 127.0.0.1:$3; keepalive 128; }
  server { listen 127.0.0.1:$2; location / { proxy_pass http://$1; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
}

# bench_provider_script FILE OUT: the wrk script FILE with a provider-style key instead of the agent
# token, for calls straight to the upstream or through nginx (the mock refuses Rungate tokens).
bench_provider_script() {
  sed 's/Bearer rg_[A-Za-z0-9_]*/Bearer sk-bench-not-a-real-key/' "$1" > "$2"
}

# bench_checked_wrk NAME OUT COMMAND...: runs COMMAND (wrk, perhaps under taskset), its output in the
# file OUT; a non-2xx answer fails the benchmark rather than flatter it. (Not to be called inside
# $(…): `die` would end only that subshell.)
bench_checked_wrk() {
  local name=$1 out=$2
  shift 2
  "$@" > "$out" 2>&1
  if grep -q "Non-2xx" "$out"; then cat "$out" >&2; die "$name answered non-2xx responses"; fi
}

# bench_wrk_figures: wrk's output (with --latency) on stdin → "requests/s p50_µs p99_µs". Anchored to
# the Latency Distribution lines: the "+/- Stdev" columns may also end in "50%" or "99%".
bench_wrk_figures() {
  awk 'function us(v) { return v ~ /us$/ ? v + 0 : v ~ /ms$/ ? (v + 0) * 1000 : (v + 0) * 1000000 }
       /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) } /^Requests\/sec:/ { rps = $2 }
       END { printf "%.0f %.0f %.0f\n", rps, p50, p99 }'
}

# bench_bootstrap UPSTREAM_BASE_URL: the first org, its provider key pointing there; sets AGENT_TOKEN.
bench_bootstrap() {
  local credentials
  credentials=$(RUNGATE_DATABASE_URL="$(role_url "$OWNER_URL" rungate_control "$ROLE_PW")" RUNGATE_OWNER_PASSWORD="bench-owner-password" \
    "$BIN/rungate-control" bootstrap --log-level warning --provider-base-url "$1")
  AGENT_TOKEN=$(echo "$credentials" | sed -n 's/^RUNGATE_AGENT_TOKEN=//p')
  BOOTSTRAP_CREDENTIALS=$credentials
}

# bench_wrk_script FILE TOKEN: a wrk script posting BENCH_BODY (a Lua long string: no escapes read)
# with the token. Each call starts a run of its own, unless RUNGATE_BENCH_CALLS_PER_RUN=N: then each
# connection sends N calls per run (x-rungate-run-id), as an agent does — those calls find their run
# already there.
bench_wrk_script() {
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.body = [==[$BENCH_BODY]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $2"
LUA
  local per_run=${RUNGATE_BENCH_CALLS_PER_RUN:-1}
  [ "$per_run" -gt 1 ] || return 0
  cat >> "$1" <<LUA
local per_run, calls, run = $per_run, 0, nil
-- Seeded per thread (wrk runs one Lua state per thread): threads do not share run ids.
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000000)
request = function()
  if calls % per_run == 0 then
    run = string.gsub("xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx", "x", function() return string.format("%x", math.random(0, 15)) end)
  end
  calls = calls + 1
  wrk.headers["x-rungate-run-id"] = run
  return wrk.format()
end
LUA
}

# bench_govern: governance on for the bench org: a policy (model allow-list, tool blocklist, a
# content rule, loop detection, a per-agent rate limit) its agents are pinned to, and budgets on
# the org (month), on each agent (day) and on every run: three reservations per call.
# The rules are written straight into the table, past the control plane's validation, and a stored
# version that does not validate enforces nothing: keep every value inside PolicyRules' ranges
# (max_repeats ≤ 1000, requests_per_minute ≤ 1,000,000). Every data plane started after this
# (bench_data_plane) is checked with bench_check_governed before it is measured.
# Unless RUNGATE_BENCH_CALLS_PER_RUN is set, each benchmark call starts its own run, so the loop
# counter never passes 1 (the same body repeats in a run: keep N at most max_repeats).
bench_govern() {
  BENCH_GOVERNED=1
  psql_super "$OWNER_URL" -q <<'SQL'
INSERT INTO policies (org_id, name) SELECT id, 'bench' FROM orgs;
INSERT INTO policy_versions (org_id, policy_id, version, rules)
SELECT org_id, id, 1, '{"models": {"allow": ["gpt-4o*"]}, "tools": {"deny": ["shell*"]},
  "content": [{"name": "aws", "pattern": "AKIA[0-9A-Z]{16}", "action": "block"}],
  "loop_detection": {"max_repeats": 1000, "window_seconds": 60},
  "rate_limits": [{"scope": "agent", "requests_per_minute": 1000000}]}'::jsonb FROM policies WHERE name = 'bench';
UPDATE agents a SET policy_id = p.id, policy_version = 1 FROM policies p WHERE p.name = 'bench' AND p.org_id = a.org_id;
INSERT INTO budgets (org_id, scope, period, cap_micros) SELECT id, 'org', 'month', 1000000000000000 FROM orgs;
INSERT INTO budgets (org_id, scope, scope_id, period, cap_micros) SELECT org_id, 'agent', id, 'day', 1000000000000000 FROM agents;
INSERT INTO budgets (org_id, scope, period, cap_micros) SELECT id, 'run', 'run', 1000000000000 FROM orgs;
SQL
}

# bench_check_governed PORT: fails the benchmark unless the data plane on PORT enforces the bench
# policy (a model outside its allow-list answered 403 policy_violation-style), waiting a few seconds
# for caches that still hold the agent's previous pin.
bench_check_governed() {
  local body='{"model":"o1-mini","messages":[{"role":"user","content":"Say something short."}]}' status i
  for i in $(seq 1 50); do
    status=$(curl -s -o "$WORK/governed-check.json" -w '%{http_code}' -H "Authorization: Bearer $AGENT_TOKEN" \
      -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$1/v1/chat/completions")
    [ "$status" = 403 ] && return 0
    sleep 0.2
  done
  echo "the bench policy is not enforced (a disallowed model got HTTP $status): governed figures would measure nothing" >&2
  exit 1
}
