#!/usr/bin/env bash
# Services the test suite needs, private to one run: PostgreSQL and Redis on
# free ports under a temporary folder, Chromium for the browser tests, and
# bubblewrap for the arena's sandbox tests.
# Never touches the system-wide PostgreSQL cluster or Redis service.
#
#   .ci/services.sh install     install the missing Debian packages
#   .ci/services.sh start DIR   start both servers under DIR; print `export` lines
#   .ci/services.sh stop DIR    stop both servers and remove DIR
#
#   dir=$(mktemp -d)
#   trap '.ci/services.sh stop "$dir"' EXIT
#   exports=$(.ci/services.sh start "$dir")  # not inside eval "$(...)",
#   eval "$exports"                          # which hides a failed start
#
# PGPORT or REDIS_PORT pins a port; otherwise the first free one from
# 55432 (PostgreSQL) or 56379 (Redis) is used. Only the export lines go to
# stdout; progress and errors go to stderr.
set -euo pipefail

readonly PG_FIRST_PORT=55432
readonly REDIS_FIRST_PORT=56379
readonly PORTS_TO_TRY=100
readonly MARKER=.arcade-services
# Held from choosing ports until the servers listen on them, so that
# concurrent starts on one machine never pick the same port.
readonly LOCK_FILE="${TMPDIR:-/tmp}/arcade-services-$EUID.lock"

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Die with the end of a server's log, which says why it failed.
die_with_log() {
    local logfile=$1
    shift
    if [[ -s $logfile ]]; then
        log "last lines of $logfile:"
        tail -n 25 "$logfile" >&2
    fi
    die "$@"
}

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

now_ms() { echo $((${EPOCHREALTIME//[!0-9]/} / 1000)); }

# Run as root: directly when we are root, else through sudo when it exists.
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root to run: $*"
    fi
}

# PostgreSQL refuses to run as root, so root hands it to the postgres user;
# anyone else runs it as themselves.
as_pg() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The newest installed server; client-only versions have no initdb.
pg_bindir() {
    local initdb
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    [[ -x $initdb ]] && dirname "$initdb"
}

deb_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

missing_packages() {
    local missing=()
    if ! pg_bindir >/dev/null || ! id postgres >/dev/null 2>&1; then
        missing+=(postgresql)
    fi
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        missing+=(redis-server redis-tools)
    fi
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    # The arena's agents run under bwrap (arena/sandbox/bwrap.py), never without it.
    command -v bwrap >/dev/null || missing+=(bubblewrap)
    deb_installed fonts-dejavu-core || missing+=(fonts-dejavu-core)
    echo "${missing[*]}"
}

# apt-get is chatty; show its output only when it fails.
apt_get() {
    local out
    out=$(mktemp)
    if ! as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -q -o DPkg::Lock::Timeout=300 "$@" >"$out" 2>&1; then
        cat "$out" >&2
        rm -f "$out"
        die "apt-get $1 failed (output above)"
    fi
    rm -f "$out"
}

# The packages' install scripts would start the system-wide PostgreSQL
# cluster and Redis on their default ports. The tests never use them, so
# forbid service starts while we install, unless the machine already has a
# policy (Docker's Debian images ship one that does the same).
readonly POLICY=/usr/sbin/policy-rc.d
forbid_service_starts() {
    [[ -e $POLICY ]] && return 0
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$POLICY && chmod 755 $POLICY"
    trap 'as_root rm -f "$POLICY"' EXIT
}

cmd_install() {
    local missing started
    read -ra missing <<<"$(missing_packages)"
    ((${#missing[@]})) || return 0
    started=$(now_ms)
    log "installing ${missing[*]}"
    forbid_service_starts
    apt_get update
    apt_get install -y --no-install-recommends "${missing[@]}"
    log "installed in $(($(now_ms) - started)) ms"
}

# Print the first of the $2 ports from $1 on that 127.0.0.1 can bind, or
# fail. SO_REUSEADDR, as the servers use it, so TIME_WAIT counts as free.
free_port() {
    python3 - "$1" "$2" <<'PY'
import socket
import sys

first, count = int(sys.argv[1]), int(sys.argv[2])
for port in range(first, first + count):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    sys.exit(0)
sys.exit(1)
PY
}

# The port in the environment variable named $1, or the first free one from $2.
choose_port() {
    local name=$1 first=$2 pinned=${!1:-}
    if [[ -z $pinned ]]; then
        free_port "$first" "$PORTS_TO_TRY" ||
            die "no free port in $first-$((first + PORTS_TO_TRY - 1)); set $name to pick one"
    elif ! [[ $pinned =~ ^[0-9]+$ ]] || ((pinned < 1 || pinned > 65535)); then
        die "$name=$pinned is not a port number"
    else
        free_port "$pinned" 1 || die "$name=$pinned is already in use; unset $name or pick another"
    fi
}

# Retry a command until it succeeds or $1 seconds pass.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# Ready once the Redis on port $1 answers and is the one whose pid is in $2:
# --daemonize returns before the bind, and a Redis already on the port
# would answer too.
redis_ready() {
    local pid
    { read -r pid <"$2"; } 2>/dev/null || return 1
    [[ $(redis-cli -p "$1" info server 2>/dev/null) == *$'\nprocess_id:'"$pid"$'\r'* ]]
}

# A fresh cluster in DIR/pg/data, owned by the postgres user.
init_postgres() {
    local dir=$1 bin=$2
    local pg=$dir/pg

    mkdir -m 700 "$pg"
    ((EUID != 0)) || chown postgres: "$pg"
    as_pg test -w "$pg" ||
        die "the postgres user cannot reach $dir; every folder above it needs o+x (mktemp -d under /tmp works)"

    # The socket lives inside DIR, away from the system cluster's /run/postgresql.
    as_pg "$bin/initdb" --pgdata="$pg/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
        die_with_log "$dir/initdb.log" "initdb failed"
    # Durability settings are off: a test database is thrown away anyway.
    as_pg tee -a "$pg/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '${pg//\'/\'\'}'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start_postgres() {
    local dir=$1 port=$2 bin=$3
    local pg=$dir/pg
    local logfile=$pg/server.log

    echo "port = $port" | as_pg tee -a "$pg/data/postgresql.conf" >/dev/null
    as_pg touch "$logfile"
    # Closing fd 9 keeps the lock from living on in the server process.
    as_pg "$bin/pg_ctl" start --pgdata="$pg/data" --log="$logfile" --wait --timeout=30 \
        </dev/null >>"$logfile" 2>&1 9>&- || die_with_log "$logfile" "PostgreSQL did not start"
    wait_for 30 "$bin/pg_isready" -h 127.0.0.1 -p "$port" -U postgres -d postgres ||
        die_with_log "$logfile" "PostgreSQL is not accepting connections"
}

create_arcade_database() {
    local dir=$1 port=$2 bin=$3
    # Superuser, so that the test runner can create and drop test databases.
    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c 'CREATE ROLE arcade LOGIN SUPERUSER' \
        -c 'CREATE DATABASE arcade OWNER arcade' >&2 ||
        die_with_log "$dir/pg/server.log" "could not create the arcade role and database"
}

start_redis() {
    local dir=$1 port=$2
    # shellcheck disable=SC2094 # errors before Redis opens its log go there too
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" \
        </dev/null >>"$dir/redis.log" 2>&1 9>&- || die_with_log "$dir/redis.log" "Redis did not start"
    wait_for 10 redis_ready "$port" "$dir/redis.pid" ||
        die_with_log "$dir/redis.log" "Redis did not start"
}

# A failed start stops what it started; DIR and its logs stay for the caller.
on_start_exit() {
    local status=$1 dir=$2
    ((status == 0)) || stop_servers "$dir"
}

cmd_start() {
    local dir bin pg_port redis_port started
    mkdir -p "$1"
    dir=$(cd "$1" && pwd -P)
    cd /
    [[ ! -e $dir/$MARKER ]] || die "$dir already holds services; stop them first"
    bin=$(pg_bindir) || die "no PostgreSQL server found; run .ci/services.sh install"
    command -v redis-server >/dev/null || die "no redis-server found; run .ci/services.sh install"
    if ((EUID == 0)); then
        id postgres >/dev/null 2>&1 || die "no postgres user; run .ci/services.sh install"
        # The servers run as postgres and must pass through DIR (mktemp makes it 0700).
        chmod a+x "$dir"
    fi

    started=$(now_ms)
    touch "$dir/$MARKER"
    # shellcheck disable=SC2064 # $dir is expanded now, on purpose
    trap "on_start_exit \$? $(printf %q "$dir")" EXIT

    init_postgres "$dir" "$bin"
    exec 9>>"$LOCK_FILE"
    flock --wait 120 9 || die "timed out waiting for $LOCK_FILE"
    pg_port=$(choose_port PGPORT "$PG_FIRST_PORT")
    echo "$pg_port" >"$dir/pg.port"
    start_postgres "$dir" "$pg_port" "$bin"
    redis_port=$(choose_port REDIS_PORT "$REDIS_FIRST_PORT")
    echo "$redis_port" >"$dir/redis.port"
    start_redis "$dir" "$redis_port"
    flock --unlock 9

    create_arcade_database "$dir" "$pg_port" "$bin"
    trap - EXIT
    log "PostgreSQL on :$pg_port, Redis on :$redis_port, ready in $(($(now_ms) - started)) ms"
    echo "export DATABASE_URL=postgres://arcade@127.0.0.1:$pg_port/arcade"
    echo "export REDIS_URL=redis://127.0.0.1:$redis_port/0"
    printf 'export ARCADE_SERVICES_DIR=%q\n' "$dir"
}

# A zombie counts as gone: a container's PID 1 may be slow to reap it
# (measured here: 1.3 s after Redis had exited).
running() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [[ $stat != Z* ]]
}

# Wait up to $2 seconds for process $1 to exit.
wait_gone() {
    local pid=$1 deadline=$((SECONDS + $2))
    while running "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.05
    done
}

# Stop whatever runs under DIR; servers that are already gone are fine.
stop_servers() {
    local dir=$1 bin pid
    if { read -r pid <"$dir/pg/data/postmaster.pid"; } 2>/dev/null && running "$pid" &&
        bin=$(pg_bindir); then
        as_pg "$bin/pg_ctl" stop --pgdata="$dir/pg/data" --mode=fast --wait --timeout=30 \
            >/dev/null 2>&1 ||
            as_pg "$bin/pg_ctl" stop --pgdata="$dir/pg/data" --mode=immediate --wait \
                >/dev/null 2>&1 ||
            log "warning: PostgreSQL under $dir did not stop"
    fi
    # SIGTERM is Redis's SHUTDOWN; with --save '' it writes nothing.
    if { read -r pid <"$dir/redis.pid"; } 2>/dev/null && running "$pid"; then
        kill "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 5; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || log "warning: Redis (pid $pid) did not stop"
        fi
    fi
}

cmd_stop() {
    local dir=$1
    [[ -d $dir ]] || return 0
    dir=$(cd "$dir" && pwd -P)
    cd /
    # rm -rf only what start made, never a mistyped path.
    [[ -e $dir/$MARKER ]] || die "$dir was not made by '.ci/services.sh start'; not removing it"
    stop_servers "$dir"
    rm -rf "$dir"
    log "stopped services in $dir"
}

main() {
    case "${1:-} $#" in
        "install 1") cmd_install ;;
        "start 2") cmd_start "$2" ;;
        "stop 2") cmd_stop "$2" ;;
        *) usage ;;
    esac
}

main "$@"
