#!/usr/bin/env bash
# Entrypoint of the offline PostgreSQL image: create the cluster on first use,
# then run the server.
#
# Environment (a NAME marked * may instead be read from the file named by
# NAME_FILE, e.g. a Docker secret; setting both is an error):
#   POSTGRES_PASSWORD*         superuser password; required for a new cluster
#                              unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER*             superuser name                     (postgres)
#   POSTGRES_DB*               database made with the cluster     (the user)
#   POSTGRES_INITDB_ARGS*      more initdb options, split at whitespace
#   POSTGRES_INITDB_WALDIR     directory for the write-ahead log
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP clients      (scram-sha-256)
#   PGDATA                     cluster directory   (/var/lib/postgresql/data)
#
# `postgres ...`, or options alone (`IMAGE -c work_mem=64MB`), start the
# server; any other command runs as given, without set-up.
#
# A new cluster (no PGDATA/PG_VERSION) is set up by a server that listens on
# the unix socket only, so TCP readiness checks fail until set-up is over. It
# makes POSTGRES_DB and runs /docker-entrypoint-initdb.d/* in name order:
# *.sql[.gz|.xz|.zst] with psql, *.sh executed if executable, else sourced.
# The real server then replaces this script: PID 1, user postgres, and
# `docker stop` sends it SIGINT, a fast shutdown (STOPSIGNAL in Dockerfile).
set -Eeo pipefail

INIT_DIR=/docker-entrypoint-initdb.d
SOCKET_DIR=/var/run/postgresql
export PGDATA=${PGDATA:-/var/lib/postgresql/data}

say() { printf 'entrypoint: %s\n' "$*"; }
die() { printf 'entrypoint: error: %s\n' "$*" >&2; exit 1; }

# setting NAME [DEFAULT]: export NAME, taken from the file named by NAME_FILE
# if that is set, else from NAME, else DEFAULT.
setting() {
	local name=$1 file_var=${1}_FILE
	local file=${!file_var:-}
	if [ -n "$file" ]; then
		[ -z "${!name:-}" ] || die "$name and $file_var are both set; keep only one"
		[ -r "$file" ] || die "$file_var is $file, which cannot be read; mount the file there or fix the path"
		printf -v "$name" '%s' "$(<"$file")"
		unset "$file_var"
	fi
	[ -n "${!name:-}" ] || printf -v "$name" '%s' "${2:-}"
	export "${name?}"
}

# Options that only print something and need no cluster.
prints_only() {
	local arg
	for arg; do
		case $arg in --help | -'?' | --version | -V | --describe-config) return 0 ;; esac
	done
	return 1
}

# Directories the server writes to, owned by postgres (a new volume or bind
# mount arrives owned by root), PGDATA private as initdb and postgres demand
# (some bind mounts refuse the chmod: then postgres says what is wrong).
prepare_dirs() {
	local dirs=("$PGDATA" "$SOCKET_DIR") dir
	[ -z "${POSTGRES_INITDB_WALDIR:-}" ] || dirs+=("$POSTGRES_INITDB_WALDIR")
	mkdir -p "${dirs[@]}"
	for dir in "${dirs[@]}"; do
		if [ "$(id -u)" = 0 ] && [ "$(stat -c %U "$dir")" != postgres ]; then
			chown -R postgres:postgres "$dir"
		fi
	done
	chmod 700 "$PGDATA" ${POSTGRES_INITDB_WALDIR:+"$POSTGRES_INITDB_WALDIR"} || true
}

# psql as the superuser on the set-up server, stopping at the first error.
run_sql() {
	psql -X -v ON_ERROR_STOP=1 --no-password -h "$SOCKET_DIR" -U "$POSTGRES_USER" "$@"
}

# create_cluster SERVER_OPTION...  (the options also apply to the set-up server)
create_cluster() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		die "no superuser password for the new cluster in $PGDATA; set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust to let clients in without one"
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		say "warning: POSTGRES_HOST_AUTH_METHOD=trust: anyone who reaches the port can log in as any user, with no password" >&2
	fi
	local file extra=()
	for file in "$INIT_DIR"/*; do
		[ ! -e "$file" ] || [ -r "$file" ] || die "$file cannot be read by user postgres; make it readable and start again"
	done
	read -r -a extra <<<"$POSTGRES_INITDB_ARGS"

	# Every TCP login, loopback inside the container included, uses
	# POSTGRES_HOST_AUTH_METHOD (scram-sha-256): a connection from the host
	# can reach the container's loopback (a proxy, host networking). Only the
	# unix socket, reachable from inside the container alone, is trust, which
	# the set-up below uses. The password is stored as a SCRAM-SHA-256
	# verifier (PostgreSQL 15's default password_encryption).
	initdb --username="$POSTGRES_USER" --auth-local=trust \
		--auth-host="$POSTGRES_HOST_AUTH_METHOD" \
		--pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		${POSTGRES_INITDB_WALDIR:+"--waldir=$POSTGRES_INITDB_WALDIR"} "${extra[@]}"
	printf '\n# any host, over TCP (POSTGRES_HOST_AUTH_METHOD)\nhost all all all %s\n' \
		"$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

	# pg_ctl hands -o to /bin/sh, hence the quoting.
	pg_ctl -D "$PGDATA" -w -t 120 start -o "$(printf '%q ' "$@" -c listen_addresses=)"
	# in case POSTGRES_INITDB_ARGS made logins on the socket need a password
	export PGPASSWORD=${PGPASSWORD:-$POSTGRES_PASSWORD}

	run_sql -d postgres -v name="$POSTGRES_DB" <<-'SQL'
		SELECT format('CREATE DATABASE %I', :'name')
		WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
	SQL
	for file in "$INIT_DIR"/*; do
		case $file in
			*.sql | *.sql.gz | *.sql.xz | *.sql.zst | *.sh) say "running $file" ;;
			*) [ ! -e "$file" ] || say "skipping $file: not *.sh or *.sql[.gz|.xz|.zst]"; continue ;;
		esac
		# shellcheck disable=SC1090  # sourced scripts are the user's
		case $file in
			*.sql) run_sql -d "$POSTGRES_DB" -f "$file" ;;
			*.gz) gzip -dc "$file" | run_sql -d "$POSTGRES_DB" ;;
			*.xz) xz -dc "$file" | run_sql -d "$POSTGRES_DB" ;;
			*.zst) zstd -dcq "$file" | run_sql -d "$POSTGRES_DB" ;;
			*.sh) if [ -x "$file" ]; then "$file"; else . "$file"; fi ;;
		esac
	done

	unset PGPASSWORD
	pg_ctl -D "$PGDATA" -w -m fast stop
	say "new cluster in $PGDATA is set up; starting the server"
}

case ${1-} in -*) set -- postgres "$@" ;; esac

if [ "${1-}" = postgres ] && ! prints_only "$@"; then
	setting POSTGRES_PASSWORD
	setting POSTGRES_USER postgres
	setting POSTGRES_DB "$POSTGRES_USER"
	setting POSTGRES_INITDB_ARGS
	export POSTGRES_HOST_AUTH_METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	prepare_dirs
	if [ "$(id -u)" = 0 ]; then
		# Same PID, now as postgres, with the settings above in the environment.
		export HOME=/var/lib/postgresql
		exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
	fi
	if [ -s "$PGDATA/PG_VERSION" ]; then
		say "$PGDATA already holds a cluster; no set-up, starting the server"
	else
		create_cluster "${@:2}"
	fi
fi

exec "$@"
