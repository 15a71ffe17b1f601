#!/bin/sh
# PgBouncer in front of postgres-db, configured from the environment: the
# `pgbouncer` profile of compose/docker-compose.yml mounts this file and runs
# it. It needs only /bin/sh and `pgbouncer` on PATH, so it serves both the
# offline image (compose/pgbouncer/build.sh) and the edoburu/pgbouncer image.
#
#   POSTGRES_USER, POSTGRES_PASSWORD   the role PgBouncer accepts and passes on
#   DB_HOST, DB_PORT                   the server (default postgres-db:5432)
#   PGBOUNCER_POOL_MODE                transaction (default), session
#   PGBOUNCER_DEFAULT_POOL_SIZE        server connections per database (20)
#   PGBOUNCER_MAX_CLIENT_CONN          client connections (500)
set -eu

conf=${PGBOUNCER_CONF_DIR:-/tmp/bot-pgbouncer}
mkdir -p "$conf"
umask 077

# userlist.txt quotes each field and doubles a quote inside one.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
printf '%s %s\n' "$(quote "$POSTGRES_USER")" "$(quote "$POSTGRES_PASSWORD")" >"$conf/userlist.txt"

cat >"$conf/pgbouncer.ini" <<INI
[databases]
* = host=${DB_HOST:-postgres-db} port=${DB_PORT:-5432}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
pool_mode = ${PGBOUNCER_POOL_MODE:-transaction}
default_pool_size = ${PGBOUNCER_DEFAULT_POOL_SIZE:-20}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-500}
INI

# PgBouncer refuses to run as root; the images' postgres user runs it instead.
if [ "$(id -u)" = 0 ]; then
	chown -R postgres "$conf"
	exec pgbouncer -u postgres "$conf/pgbouncer.ini"
fi
exec pgbouncer "$conf/pgbouncer.ini"
