#!/usr/bin/env bash
# Smoke-test an image against the parts of the official postgres image's
# contract this project relies on.
#
#   compose/image/smoke-test.sh [TAG]
#
# Needs a running engine and the psql client on the host (postgresql-client).
# Publishes on 127.0.0.1:$SMOKE_PORT (default 5999).  Everything it creates
# is removed on exit.  Works against the official image too, e.g.
# `smoke-test.sh postgres:15` on a laptop.
set -euo pipefail

tag=${1:-${OFFLINE_POSTGRES_IMAGE:-bot-persistence/postgres:15-offline}}
port=${SMOKE_PORT:-5999}
name=bp-img-smoke-$$
vol=$name-data

say() { printf 'smoke-test: %s\n' "$*"; }
fail() { printf 'smoke-test: FAIL: %s\n' "$*" >&2; docker logs --tail 30 "$name" >&2 2>&1 || true; exit 1; }

cleanup() {
	docker rm -fv "$name" >/dev/null 2>&1 || true
	docker volume rm "$vol" >/dev/null 2>&1 || true
}
trap cleanup EXIT

command -v psql >/dev/null || { echo "smoke-test: psql not found (apt-get install postgresql-client)" >&2; exit 1; }
docker image inspect "$tag" >/dev/null 2>&1 || { echo "smoke-test: image $tag not present (run compose/image/build.sh)" >&2; exit 1; }

now() { date +%s%N; }
ms_since() { echo $((($(now) - $1) / 1000000)); }

# usage: poll DESCRIPTION SECONDS COMMAND...  (every 0.2 s until it succeeds)
poll() {
	local what=$1 tries=$(($2 * 5)) i
	shift 2
	for ((i = 0; i < tries; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	fail "$what: not within $((tries / 5))s"
}

q() { PGPASSWORD=${PW:-pw} psql -h 127.0.0.1 -p "$port" -U bot -d botdb -X -Atc "$1"; }

start_container() {
	docker run -d --name "$name" \
		-e POSTGRES_PASSWORD=pw -e POSTGRES_USER=bot -e POSTGRES_DB=botdb \
		-v "$vol:/var/lib/postgresql/data" \
		-p "127.0.0.1:$port:5432" \
		"$tag" "$@" >/dev/null
}

wait_ready() {
	# TCP inside the container only answers once the real server runs
	poll "pg_isready over TCP in the container" 60 docker exec "$name" pg_isready -h 127.0.0.1 -U bot -d botdb
	poll "query over TCP from the host" 30 q 'select 1'
}

say "image $tag, port 127.0.0.1:$port"
t=$(now)
start_container -c max_connections=40
wait_ready
say "first start (initdb) ready after $(ms_since "$t") ms"

[ "$(q 'show max_connections')" = 40 ] || fail "'-c max_connections=40' was not passed to postgres"
say "extra arguments reach postgres (max_connections=40)"

[ "$(docker exec "$name" cat /proc/1/comm)" = postgres ] || fail "PID 1 is not postgres"
[ "$(docker exec "$name" stat -c %U /proc/1)" = postgres ] || fail "postgres does not run as user postgres"
say "postgres is PID 1, runs as postgres"

if PW=wrong q 'select 1' >/dev/null 2>&1; then
	fail "a wrong password was accepted"
fi
[ "$(q "select left(rolpassword, 13) from pg_authid where rolname = 'bot'")" = 'SCRAM-SHA-256' ] \
	|| fail "password not stored as SCRAM-SHA-256"
say "wrong password refused; password stored as SCRAM-SHA-256"

q "create table smoke(v text); insert into smoke values ('kept')" >/dev/null
t=$(now)
docker stop "$name" >/dev/null
stop_ms=$(ms_since "$t")
[ "$stop_ms" -lt 5000 ] || fail "docker stop took ${stop_ms} ms"
[ "$(docker inspect -f '{{.State.ExitCode}}' "$name")" = 0 ] || fail "non-zero exit code after docker stop"
say "docker stop: clean exit in $stop_ms ms"

docker rm "$name" >/dev/null
t=$(now)
start_container
wait_ready
say "restart on the same volume ready after $(ms_since "$t") ms"
[ "$(q 'select v from smoke')" = kept ] || fail "data did not survive the restart"
# initdb's own banner, the same with any entrypoint
if docker logs "$name" 2>&1 | grep -q 'The files belonging to this database system'; then
	fail "restart re-initialised the database"
fi
say "data kept, no re-initialisation"

say "OK"
