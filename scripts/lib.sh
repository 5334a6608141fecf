# Shared shell helpers for scripts/up, scripts/down and scripts/test. Sourced, not run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The release build scripts/up, bench/ and the Docker image run (scripts/build-release): the Swift
# runtime linked in statically; every function (dependencies' and C code included) in a section of
# its own, so the linker can place the data plane's hot functions side by side in the order
# scripts/hot-functions.txt gives (written by bench/layout from profiles of passthrough, governed and
# streamed calls). A call's code then spans a few hundred pages instead of over a thousand, which is what a
# call after a pause pays for: bench/RESULTS.md, session 28. A function the list does not name is
# placed as before, so a list older than the code is less effective, never wrong. Segments aligned to
# 2 MB, so the kernel loads the executables 2 MB-aligned and the data plane can map its code with
# 2 MB pages (Sources/CHugeText; session 29). Exclusive-access checks at run time off in every
# module, as the Swift standard library itself is built: they were ~8 % of a passthrough call's
# instructions (swift_beginAccess and its access set, mostly in NIO's channel and event loop code;
# session 36). The debug builds the tests run keep them, so a violation still traps there.
RELEASE_BUILD=(swift build -c release --static-swift-stdlib -Xswiftc -enforce-exclusivity=unchecked
  -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections
  -Xlinker "--section-ordering-file=$ROOT/scripts/hot-functions.txt"
  -Xlinker -z -Xlinker max-page-size=0x200000)

# release_build [swift build arguments...]: runs RELEASE_BUILD after two checks SwiftPM does not
# make. A release folder built with other flags is removed (SwiftPM keeps its objects when only the
# flags change: they would lack the sections). Executables older than scripts/hot-functions.txt are
# removed, so they are linked again in its order (the list is not an input SwiftPM tracks).
# Sets RELEASE_BIN, the folder the binaries are in.
release_build() {
  local flags="${RELEASE_BUILD[*]}"
  RELEASE_BIN=$("${RELEASE_BUILD[@]}" --show-bin-path)
  if [ -d "$RELEASE_BIN" ] && [ "$(cat "$RELEASE_BIN/.rungate-build-flags" 2>/dev/null)" != "$flags" ]; then
    say "removing $RELEASE_BIN: built with other flags than scripts/lib.sh's RELEASE_BUILD"
    rm -rf "$RELEASE_BIN"
  fi
  find "$RELEASE_BIN" -maxdepth 1 -type f -name 'rungate-*' ! -newer "$ROOT/scripts/hot-functions.txt" -delete 2>/dev/null || true
  "${RELEASE_BUILD[@]}" "$@" || return
  printf '%s' "$flags" > "$RELEASE_BIN/.rungate-build-flags"
}

# Runs as root directly or through sudo otherwise.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL refuses to run as root: run its tools as the postgres user when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  echo "$dir"
}

# Installs the Debian packages the platform needs, only those missing.
ensure_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -f /usr/include/hiredis/hiredis.h ] || missing+=(libhiredis-dev)
  [ -f /usr/include/zstd.h ] || missing+=(libzstd-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # Debian starts its own cluster and Redis on the default ports; ours use their own folders and ports.
  fi
  command -v swift >/dev/null 2>&1 || die "swift is not on PATH: install Swift 6.x first"
}

# A free TCP port on loopback, never one this script handed out before: the kernel may give a port
# just closed out again, and two servers of one run then race for it (seen once: the OTLP receiver
# lost its port to a data plane, and every trace export met the data plane's 404). The ports given
# are noted in a file named after the script's process ($$ is the same in its subshells).
free_port() {
  python3 - "${TMPDIR:-/tmp}/rungate-ports.$$" <<'PY'
import os, socket, sys
path = sys.argv[1]
given = set(open(path).read().split()) if os.path.exists(path) else set()
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = str(s.getsockname()[1])
    s.close()
    if port not in given:
        break
with open(path, "a") as out:
    out.write(port + "\n")
print(port)
PY
}
forget_ports() { rm -f "${TMPDIR:-/tmp}/rungate-ports.$$"; }

random_secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

# start_postgres DIR PORT PASSWORD: a private cluster in DIR on 127.0.0.1:PORT; the superuser
# `postgres` gets PASSWORD, and TCP logins need SCRAM passwords (postgres-nio speaks SCRAM).
start_postgres() {
  local dir=$1 port=$2 password=$3 bin
  bin=$(pg_bin)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    local pwfile="$dir/.pw"
    printf '%s\n' "$password" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pwfile"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --no-instructions >/dev/null
    rm -f "$pwfile"
  fi
  if ! as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=300 -c fsync=${PG_FSYNC:-on} ${PG_EXTRA_OPTIONS:-}" \
      start >/dev/null
  fi
}

stop_postgres() {
  local dir=$1
  [ -f "$dir/data/PG_VERSION" ] || return 0
  as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DIR PORT [persist]: a private Redis on 127.0.0.1:PORT.
start_redis() {
  local dir=$1 port=$2 persist=${3:-no}
  mkdir -p "$dir"
  if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then return 0; fi
  local persistence=(--save "" --appendonly no)
  [ "$persist" = yes ] && persistence=(--appendonly yes)
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" "${persistence[@]}"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "Redis did not start on port $port (see $dir/redis.log)"
}

stop_redis() {
  local dir=$1
  if [ -f "$dir/redis.pid" ]; then
    local pid
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/redis.pid"
  fi
}

# psql_super URL: psql as the database owner, reading SQL from stdin, stopping at the first error.
psql_super() { psql "$1" -v ON_ERROR_STOP=1 -q -X "${@:2}"; }

# set_role_passwords OWNER_URL PW_CONTROL PW_DATA PW_PLATFORM: lets the three roles log in.
set_role_passwords() {
  psql_super "$1" -v pc="$2" -v pd="$3" -v pp="$4" <<'SQL'
ALTER ROLE rungate_control LOGIN PASSWORD :'pc';
ALTER ROLE rungate_data LOGIN PASSWORD :'pd';
ALTER ROLE rungate_platform LOGIN PASSWORD :'pp';
SQL
}

# role_url OWNER_URL ROLE PASSWORD: the owner URL with another user and password.
role_url() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
host = p.hostname + (f":{p.port}" if p.port else "")
print(u.urlunsplit((p.scheme, f"{sys.argv[2]}:{u.quote(sys.argv[3], safe='')}@{host}", p.path, p.query, "")))
PY
}

# wait_ready URL NAME: polls URL until it answers 200.
wait_ready() {
  for _ in $(seq 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$2 did not become ready at $1 (see .run/logs/)"
}
