#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server on 127.0.0.1.
#
#   scripts/with-postgres.sh cargo test
#
# Installs PostgreSQL with apt-get when its binaries are missing, creates a cluster in a
# temporary directory, starts it on a free loopback port, exports
# HOOKRELAY_TEST_POSTGRES_URL (a superuser URL; tests create their own databases) and
# stops and deletes the cluster when the command ends, also on failure or Ctrl-C.
set -euo pipefail

find_pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
    done
    return 1
}

if ! PG_BIN=$(find_pg_bin); then
    echo "with-postgres: PostgreSQL not found; installing it with apt-get" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "with-postgres: run as root, or install the 'postgresql' package first" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PG_BIN=$(find_pg_bin)
fi

# initdb refuses to run as root; use the postgres account the package creates.
as_pg_user=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres
    as_pg_user=(runuser -u postgres --)
fi

PG_DIR=$(mktemp -d /tmp/hookrelay-pg.XXXXXX)
chmod 755 "$PG_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres "$PG_DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop_pg() {
    "${as_pg_user[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
}
trap stop_pg EXIT INT TERM

"${as_pg_user[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
# Tuned for throwaway test data: durability off, enough connections for the cluster tests.
"${as_pg_user[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w start -o \
    "-h 127.0.0.1 -p $PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null

export HOOKRELAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
"$@"
