#!/usr/bin/env bash
# Run a command with DATABASE_URL and REDIS_URL pointing at a PostgreSQL and a Redis:
#   1. the ones already set in the environment;
#   2. else the machine's local servers on their standard ports (127.0.0.1:5432, :6379);
#   3. else private throwaway instances started from the installed binaries under var/test-services/;
#   4. else stop, naming the packages to install.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=var/test-services
mkdir -p "$STATE"

have() { command -v "$1" >/dev/null 2>&1; }
pg_bin() {  # Debian keeps initdb/pg_ctl out of PATH
  if have "$1"; then command -v "$1"; return; fi
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- ; }

if [[ -z "${DATABASE_URL:-}" ]]; then
  if port_open 5432 && psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    INITDB=$(pg_bin initdb); PGCTL=$(pg_bin pg_ctl)
    if [[ -z "$INITDB" || -z "$PGCTL" ]]; then
      echo "PostgreSQL is needed for the tests: set DATABASE_URL, or install it (apt-get install -y postgresql)." >&2
      exit 2
    fi
    PGDATA="$STATE/pg"; PGPORT=55432
    if [[ ! -d "$PGDATA" ]]; then "$INITDB" -D "$PGDATA" -A trust -U postgres --no-sync >/dev/null; fi
    if ! "$PGCTL" -D "$PGDATA" status >/dev/null 2>&1; then
      "$PGCTL" -D "$PGDATA" -l "$STATE/pg.log" -w start \
        -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
  fi
fi

if [[ -z "${REDIS_URL:-}" ]]; then
  if port_open 6379; then
    export REDIS_URL="redis://127.0.0.1:6379/15"
  elif have redis-server; then
    RPORT=56379
    if ! port_open $RPORT; then
      redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --logfile "$PWD/$STATE/redis.log" --pidfile "$PWD/$STATE/redis.pid" >/dev/null
      for _ in $(seq 50); do port_open $RPORT && break; sleep 0.1; done
    fi
    export REDIS_URL="redis://127.0.0.1:$RPORT/15"
  else
    echo "Redis is needed for the tests: set REDIS_URL, or install it (apt-get install -y redis-server)." >&2
    exit 2
  fi
fi

exec "$@"
