#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster on 127.0.0.1 for the test suite.
#
#   scripts/pg-test-cluster.sh start [DIR]   initdb (if needed) + start; prints the database URL
#   scripts/pg-test-cluster.sh stop  [DIR]   fast shutdown (the data stays for the next start)
#   scripts/pg-test-cluster.sh url   [DIR]   print the URL only
#
# DIR defaults to $NETKORT_PG_DIR or /tmp/netkort-pg. PostgreSQL refuses to run as root, so as root
# the server runs as the `postgres` user (`runuser -u postgres`); as anyone else it runs as that
# user. The port is $NETKORT_PG_PORT or 55432; the socket lives inside DIR, so the image's own
# cluster (5432, /var/run/postgresql) is never touched. fsync is off: test data need not survive a
# power cut, and the suite runs much faster.
#
# Use it from CI:
#   export NETKORT_TEST_DATABASE_URL="$(scripts/pg-test-cluster.sh start)"
#   trap 'scripts/pg-test-cluster.sh stop' EXIT
set -euo pipefail

action="${1:-start}"
dir="${2:-${NETKORT_PG_DIR:-/tmp/netkort-pg}}"
port="${NETKORT_PG_PORT:-55432}"
db="${NETKORT_PG_DB:-netkort_test}"
data="$dir/data"
sock="$dir/sock"
log="$dir/server.log"

bindir="$(pg_config --bindir 2>/dev/null || true)"
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "pg-test-cluster: no PostgreSQL server found (apt-get install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url="postgresql://postgres@127.0.0.1:$port/$db"

case "$action" in
  start)
    mkdir -p "$dir" "$sock"
    if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
    if [ ! -s "$data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$data" -w -t 60 -l "$log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=off -c full_page_writes=off" \
        start >/dev/null || { cat "$log" >&2; exit 1; }
    fi
    if ! as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname = '$db'" postgres | grep -q 1; then
      as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
    fi
    echo "$url"
    ;;
  stop)
    if [ -s "$data/PG_VERSION" ]; then
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url)
    echo "$url"
    ;;
  *)
    echo "usage: $0 start|stop|url [DIR]" >&2
    exit 2
    ;;
esac
