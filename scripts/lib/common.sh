# shellcheck shell=bash
#
# Helpers shared by scripts/test and scripts/demo.  Source this file; it defines
# functions only (plus a few read-only defaults) and changes no shell options, so
# the caller's `set -euo pipefail` stays in charge.
#
#   ensure_packages          install what is missing (Debian 12), put Swift on PATH
#   pg_bin_dir               print the newest /usr/lib/postgresql/<v>/bin
#   start_private_postgres [DIR]
#                            start a throw-away cluster on a Unix socket in DIR
#                            (default: a new mktemp dir) and export
#                            CAMPAIGN_PG_DIR, CAMPAIGN_PG_HOST, CAMPAIGN_PG_PORT,
#                            CAMPAIGN_PG_BIN, CAMPAIGN_DATABASE_URL
#   stop_private_postgres [--keep]
#                            stop it (immediate) and remove DIR unless --keep;
#                            safe to call twice or after a half-failed start
#   swift_bin_path [ARGS]    print `swift build --show-bin-path ARGS`
#   terminate_pids SECS PID... SIGTERM, wait up to SECS, then SIGKILL; reaps children
#   now_s / elapsed_since T  wall-clock timing with sub-second precision
#   log / warn / die         messages on stderr

# Guard against being sourced twice.
if [[ -n "${_CAMPAIGN_COMMON_SH:-}" ]]; then
    return 0
fi
_CAMPAIGN_COMMON_SH=1
_campaign_pg_dir=""   # cluster directory owned by this shell (set by start_private_postgres)
_campaign_pg_bin=""

# Debian packages the build, the tests and the demo need.  `postgresql` pulls the
# version-15 server on Debian 12 (binaries in /usr/lib/postgresql/15/bin).
# python3-prometheus-client: the reference parser of the Prometheus text format in the tests;
# tmux: the terminal the test of `campaign-ctl watch` runs it in.
CAMPAIGN_REQUIRED_PACKAGES=(postgresql libpq-dev libsystemd-dev pkg-config python3 python3-prometheus-client nodejs systemd tmux)
CAMPAIGN_SWIFT_DIR=${CAMPAIGN_SWIFT_DIR:-/opt/swift/usr/bin}

# ---------------------------------------------------------------------------
# Messages and timing
# ---------------------------------------------------------------------------

log()  { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with microseconds (bash >= 5 has EPOCHREALTIME; its
# decimal separator follows the locale, so normalise a comma to a dot).
now_s() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then
        printf '%s\n' "${EPOCHREALTIME/,/.}"
    else
        date +%s.%N
    fi
}

# elapsed_since START -> seconds since START (from now_s), one decimal.
elapsed_since() {
    awk -v s="$1" -v e="$(now_s)" 'BEGIN { printf "%.1f\n", e - s }'
}

# ---------------------------------------------------------------------------
# Packages and toolchain
# ---------------------------------------------------------------------------

# Put the Swift toolchain on PATH if `swift` is not found already.
ensure_swift_on_path() {
    if ! command -v swift >/dev/null 2>&1 && [[ -x "$CAMPAIGN_SWIFT_DIR/swift" ]]; then
        export PATH="$CAMPAIGN_SWIFT_DIR:$PATH"
    fi
    if ! command -v swift >/dev/null 2>&1; then
        printf 'error: swift not found (looked on PATH and in %s)\n' "$CAMPAIGN_SWIFT_DIR" >&2
        return 1
    fi
}

# True when the Debian package is installed (not merely known or half-removed).
_package_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

# Install whatever is missing among CAMPAIGN_REQUIRED_PACKAGES.  Silent when
# everything is there; runs `apt-get update` only when something has to be
# installed.  Uses sudo when not root.
ensure_packages() {
    local missing=() pkg
    if command -v dpkg-query >/dev/null 2>&1; then
        for pkg in "${CAMPAIGN_REQUIRED_PACKAGES[@]}"; do
            _package_installed "$pkg" || missing+=("$pkg")
        done
    else
        warn "dpkg-query not found (not a Debian system?); not checking packages"
    fi

    if ((${#missing[@]} > 0)); then
        local sudo=()
        if ((EUID != 0)); then
            if command -v sudo >/dev/null 2>&1; then
                sudo=(sudo)
            else
                printf 'error: missing packages (%s) and not root; install them first\n' \
                    "${missing[*]}" >&2
                return 1
            fi
        fi
        log "installing missing packages: ${missing[*]}"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" || return 1
    fi

    ensure_swift_on_path
}

# Print `swift build --show-bin-path` (extra arguments, e.g. `-c release`, pass through).
swift_bin_path() {
    ensure_swift_on_path || return 1
    swift build --show-bin-path "$@"
}

# ---------------------------------------------------------------------------
# Private PostgreSQL cluster
# ---------------------------------------------------------------------------

# Print the newest PostgreSQL bin directory (/usr/lib/postgresql/<version>/bin).
pg_bin_dir() {
    local dirs=() d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && dirs+=("$d")
    done
    if ((${#dirs[@]} == 0)); then
        printf 'error: no PostgreSQL server found in /usr/lib/postgresql/*/bin\n' >&2
        return 1
    fi
    printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

# Run a command as the cluster's owner: `postgres` when we are root (initdb and
# postgres refuse to run as root), ourselves otherwise.  Runs from the cluster
# directory so the command never trips over an unreadable working directory.
_pg_as_owner() {
    if ((EUID == 0)); then
        (cd "$_campaign_pg_dir" && runuser -u postgres -- "$@")
    else
        (cd "$_campaign_pg_dir" && "$@")
    fi
}

# start_private_postgres [DIR]
# DIR must be absent or empty; by default a new /tmp/campaign-pg.XXXXXX is made.
# Layout: DIR/data (cluster), DIR/.s.PGSQL.<port> (socket), DIR/postgres.log.
start_private_postgres() {
    local dir=${1:-} bin port i

    if [[ -n "${_campaign_pg_dir:-}" ]]; then
        printf 'error: a private PostgreSQL is already running in %s\n' "$_campaign_pg_dir" >&2
        return 1
    fi
    bin=$(pg_bin_dir) || return 1

    if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
        printf 'error: OS user "postgres" missing (is the postgresql package installed?)\n' >&2
        return 1
    fi

    if [[ -z "$dir" ]]; then
        dir=$(mktemp -d /tmp/campaign-pg.XXXXXX) || return 1
    else
        mkdir -p "$dir" || return 1
        dir=$(cd "$dir" && pwd -P) || return 1
        # Refuse to take over (and later delete) a directory holding anything.
        if [[ -n "$(ls -A "$dir")" ]]; then
            printf 'error: %s is not empty; start_private_postgres wants a fresh directory\n' "$dir" >&2
            return 1
        fi
    fi

    # From here on stop_private_postgres owns DIR, even if the start fails halfway.
    # (Tracked in shell variables, not the exported ones, so that a value
    # inherited from the environment never makes us stop or delete anything.)
    _campaign_pg_dir=$dir
    _campaign_pg_bin=$bin
    export CAMPAIGN_PG_DIR=$dir
    export CAMPAIGN_PG_BIN=$bin

    chmod 755 "$dir" || return 1
    if ((EUID == 0)); then
        chown postgres:postgres "$dir" || return 1
        if ! runuser -u postgres -- test -x "$dir"; then
            printf 'error: user postgres cannot use %s (a parent directory is not traversable?)\n' "$dir" >&2
            return 1
        fi
    fi

    # Create the cluster.  C.UTF-8 if the system has it, else no locale at all.
    if ! _pg_as_owner "$bin/initdb" -D "$dir/data" --auth=trust -U postgres \
            --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
        rm -rf "$dir/data"
        if ! _pg_as_owner "$bin/initdb" -D "$dir/data" --auth=trust -U postgres \
                --encoding=UTF8 --no-locale >>"$dir/initdb.log" 2>&1; then
            printf 'error: initdb failed:\n' >&2
            tail -n 20 "$dir/initdb.log" >&2
            return 1
        fi
    fi

    # The port only names the socket file (no TCP listener), so any number will
    # do; a random one keeps clusters apart even if they shared a directory.
    port=$((5400 + RANDOM % 500))

    # Test settings go into postgresql.conf (rather than `pg_ctl -o`) so that a
    # kept directory can be restarted by hand with the same settings:
    #   runuser -u postgres -- pg_ctl -D DIR/data -l DIR/postgres.log start
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- campaign private test cluster ---
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
shared_buffers = 256MB
EOF

    if ! _pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
            -w -t 60 start >/dev/null; then
        printf 'error: PostgreSQL did not start:\n' >&2
        tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true
        return 1
    fi
    export CAMPAIGN_PG_HOST=$dir
    export CAMPAIGN_PG_PORT=$port

    # pg_ctl -w already waited; make sure it really answers on the socket.
    for ((i = 0; i < 60; i++)); do
        "$bin/pg_isready" -q -h "$dir" -p "$port" -U postgres -d postgres -t 1 && break
        sleep 0.5
    done
    if ! "$bin/pg_isready" -q -h "$dir" -p "$port" -U postgres -d postgres -t 1; then
        printf 'error: PostgreSQL is not ready on %s (port %s)\n' "$dir" "$port" >&2
        return 1
    fi

    "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
        -c 'CREATE DATABASE campaign' || return 1

    # libpq URI: empty host part, socket directory in the query string.
    export CAMPAIGN_DATABASE_URL="postgresql://postgres@/campaign?host=$dir&port=$port"
    if ! "$bin/psql" -X -q -At "$CAMPAIGN_DATABASE_URL" -c 'select 1' >/dev/null; then
        printf 'error: cannot connect with %s\n' "$CAMPAIGN_DATABASE_URL" >&2
        return 1
    fi
}

# stop_private_postgres [--keep]
# Immediate shutdown (test data does not matter), then remove the directory
# unless --keep.  Does nothing when no cluster was started.
stop_private_postgres() {
    local keep=0 dir=${_campaign_pg_dir:-} bin=${_campaign_pg_bin:-} pid i
    [[ "${1:-}" == "--keep" ]] && keep=1
    [[ -n "$dir" ]] || return 0

    if [[ -f "$dir/data/postmaster.pid" ]]; then
        if [[ -z "$bin" ]] || ! _pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate \
                -w -t 30 stop >/dev/null 2>&1; then
            # pg_ctl failed (or is gone): kill the postmaster by its pid file.
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
                kill -QUIT "$pid" 2>/dev/null || true
                for ((i = 0; i < 50; i++)); do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi

    if ((keep)); then
        log "kept PostgreSQL directory $dir"
    elif [[ "$dir" == /*/* && -d "$dir" ]]; then
        rm -rf -- "$dir"
    fi
    _campaign_pg_dir=""
    _campaign_pg_bin=""
    unset CAMPAIGN_PG_DIR CAMPAIGN_PG_HOST CAMPAIGN_PG_PORT CAMPAIGN_PG_BIN CAMPAIGN_DATABASE_URL
    return 0
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

# terminate_pids SECS PID...: send SIGTERM to each live PID, give them SECS
# seconds to exit, SIGKILL the rest, then reap those that are our children.
terminate_pids() {
    local secs=$1 pid alive deadline
    shift
    local pids=()
    for pid in "$@"; do
        [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && pids+=("$pid")
    done
    ((${#pids[@]} > 0)) || return 0

    kill -TERM "${pids[@]}" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            warn "process $pid did not stop within ${secs}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
