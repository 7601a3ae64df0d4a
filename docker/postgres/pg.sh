#!/usr/bin/env bash
# A real PostgreSQL server for the ledger's event store, without a Docker engine.
#
#   docker/postgres/pg.sh start    install the server if missing, create the cluster once, start it on
#                                  127.0.0.1, create role and database, wait until it answers
#   docker/postgres/pg.sh stop     fast shutdown (rolls back open transactions), waits for it to end
#   docker/postgres/pg.sh status   exit 0 if the server answers and the liuhen role can log in
#   docker/postgres/pg.sh env      print the environment variables that point liuhen at it
#   docker/postgres/pg.sh reset    stop and delete the cluster's data
#
# Environment: LIUHEN_POSTGRES_PORT (default 15432), LIUHEN_POSTGRES_HOME (state folder, default
# .cache/postgres), LIUHEN_POSTGRES_PASSWORD (of the liuhen role, default liuhen), LIUHEN_POSTGRES_BIN
# (folder of initdb/pg_ctl/postgres; found under /usr/lib/postgresql otherwise).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${LIUHEN_POSTGRES_PORT:-15432}
password=${LIUHEN_POSTGRES_PASSWORD:-liuhen}
role=liuhen
database=liuhen

die() { echo "postgres: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root: then the cluster belongs to the 'postgres' OS user.
if [ "$(id -u)" = 0 ]; then owner=postgres; else owner=$(id -un); fi
as_owner() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

find_bin() {
  local dir
  local dir tool ok
  for dir in "${LIUHEN_POSTGRES_BIN:-}" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r || true) \
    "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")"; do
    [ -n "$dir" ] || continue
    ok=1
    for tool in initdb pg_ctl postgres pg_isready psql; do [ -x "$dir/$tool" ] || ok=; done
    if [ -n "$ok" ]; then bin=$dir; return 0; fi
  done
  return 1
}

install_server() {
  find_bin && return 0
  [ "$(id -u)" = 0 ] || die "no PostgreSQL server binaries found: install the 'postgresql' package (or set LIUHEN_POSTGRES_BIN)"
  command -v apt-get >/dev/null || die "no PostgreSQL server binaries found and no apt-get to install them"
  echo "postgres: installing the Debian 'postgresql' package (once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null || die "apt-get install postgresql failed"
  find_bin || die "the postgresql package installed no initdb/pg_ctl/postgres"
}

ensure_owner_account() {
  [ "$(id -u)" = 0 ] || return 0
  id postgres >/dev/null 2>&1 && return 0
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres \
    || die "cannot create the 'postgres' OS user the server runs as"
}

# The cluster lives in a git-ignored folder of the repository; when the server's OS user cannot
# reach it (a clone under a private home folder), in a folder of its own under /tmp instead.
pick_home() {
  home=${LIUHEN_POSTGRES_HOME:-$repo/.cache/postgres}
  mkdir -p "$home"
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -r "$home" -a -x "$home"; then
    home="${TMPDIR:-/tmp}/liuhen-postgres-$(printf '%s' "$repo" | sha256sum | cut -c1-12)"
    mkdir -p "$home"
    chmod 755 "$home"
  fi
  run="$home/run-$port"
  data="$run/data"
  log="$run/server.log"
  superuser_pw="$run/superuser.password"
}

answers() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }

sql_as() {  # sql_as USER PASSWORD DATABASE [psql args...]
  local user=$1 pw=$2 db=$3
  shift 3
  PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" \
    -U "$user" -d "$db" "$@"
}

usable() { sql_as "$role" "$password" "$database" -tAc 'SELECT 1' >/dev/null 2>&1; }

ours() { [ -f "$data/postmaster.pid" ] && [ -f "$superuser_pw" ]; }

init_cluster() {
  if [ -f "$data/PG_VERSION" ]; then
    local made with
    made=$(cat "$data/PG_VERSION")
    with=$("$bin/postgres" --version | awk '{print $3}' | cut -d. -f1)
    [ "$made" = "$with" ] || die "cluster in $data is PostgreSQL $made, the server found is $with: run '$0 reset'"
    return 0
  fi
  rm -rf "$run"
  mkdir -p "$run"
  (umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$superuser_pw")
  chown -R "$owner" "$run"
  chmod 700 "$run"
  as_owner "$bin/initdb" -D "$data" -U postgres --pwfile="$superuser_pw" --auth=scram-sha-256 \
    --locale=C --encoding=UTF8 >"$run/initdb.log" 2>&1 || { cat "$run/initdb.log" >&2; die "initdb failed"; }
  # Loopback TCP only, no Unix socket (its path would depend on where the repository lives).
  cat >>"$data/postgresql.conf" <<CONF

# liuhen's test server (docker/postgres/pg.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
shared_buffers = 128MB
CONF
}

ensure_role() {
  local pw
  pw=$(cat "$superuser_pw")
  local quoted=${password//\'/\'\'}
  sql_as postgres "$pw" postgres >/dev/null <<SQL || die "cannot create role and database $role (log: $log)"
DO \$\$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
    ALTER ROLE $role LOGIN PASSWORD '$quoted';
  ELSE
    CREATE ROLE $role LOGIN PASSWORD '$quoted';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $database OWNER $role' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$database')
\gexec
SQL
}

print_env() {
  cat <<ENV
postgres: use it with
  export PERSISTENCE_MODULE=eventsourcing.postgres POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=$port
  export POSTGRES_DBNAME=$database POSTGRES_USER=$role POSTGRES_PASSWORD=$password
ENV
}

start() {
  install_server
  ensure_owner_account
  pick_home
  if answers; then
    if usable; then echo "postgres: already answering on 127.0.0.1:$port"; print_env; return 0; fi
    ours || die "a server answers on 127.0.0.1:$port but role $role cannot log in with the configured password"
    ensure_role
    usable || die "role $role still cannot log in on 127.0.0.1:$port"
    echo "postgres: already answering on 127.0.0.1:$port"; print_env; return 0
  fi
  init_cluster
  as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 -s start \
    || { tail -n 40 "$log" >&2 || true; die "server did not start (log: $log)"; }
  for _ in $(seq 1 60); do
    answers && break
    sleep 0.5
  done
  answers || { tail -n 40 "$log" >&2; die "server did not answer within 30 s (log: $log)"; }
  ensure_role
  usable || die "role $role cannot log in on 127.0.0.1:$port (log: $log)"
  echo "postgres: ready on 127.0.0.1:$port (data: $data)"
  print_env
}

stop() {
  [ -f "$data/postmaster.pid" ] || return 0
  find_bin || die "no pg_ctl found to stop the server in $data"
  as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 -s stop \
    || die "server in $data did not stop within 60 s (log: $log)"
  echo "postgres: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) pick_home; stop ;;
  status) find_bin || die "no PostgreSQL server binaries found"; pick_home; answers && usable && echo "postgres: answering on 127.0.0.1:$port" ;;
  env) print_env ;;
  reset) pick_home; stop; rm -rf "$run" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
