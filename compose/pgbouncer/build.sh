#!/usr/bin/env bash
# Build the offline PgBouncer image for the compose `pgbouncer` profile.
#
#   compose/pgbouncer/build.sh [--rebuild] [TAG]
#
# Where a registry is reachable, use PGBOUNCER_IMAGE=edoburu/pgbouncer (the
# compose file's default) instead. Here: the offline PostgreSQL image
# (compose/image/build.sh, BASE) plus this machine's /usr/sbin/pgbouncer and
# the libraries the base lacks, copied without apt. The last line on stdout is
# PGBOUNCER_IMAGE=TAG.
#
# Environment:
#   BASE   base image (default bot-persistence/postgres:15-offline)
set -euo pipefail

DEFAULT_TAG=bot-persistence/pgbouncer:offline
HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${BASE:-bot-persistence/postgres:15-offline}

die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

rebuild=
tag=
for arg in "$@"; do
	case "$arg" in
		--rebuild) rebuild=1 ;;
		-*) die "unknown option: $arg" ;;
		*) tag=$arg ;;
	esac
done
tag=${tag:-$DEFAULT_TAG}

if [ -z "$rebuild" ] && docker image inspect "$tag" >/dev/null 2>&1; then
	printf 'build.sh: image %s is already present (--rebuild to build it again)\n' "$tag" >&2
	printf 'PGBOUNCER_IMAGE=%s\n' "$tag"
	exit 0
fi

binary=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$binary" ] || die "pgbouncer is not installed here (apt-get install pgbouncer)"
docker image inspect "$BASE" >/dev/null 2>&1 || die "base image $BASE is missing; run compose/image/build.sh first"

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/rootfs/usr/sbin"
cp "$binary" "$context/rootfs/usr/sbin/pgbouncer"
cp "$HERE/Dockerfile" "$HERE/entrypoint.sh" "$context/"

# Every library pgbouncer links that the base image does not have.
present=$(docker run --rm --entrypoint /bin/sh "$BASE" -c 'ls /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib /usr/lib 2>/dev/null')
# Into the real directory (merged /usr: /lib is a link to usr/lib, and copying
# onto /lib would replace that link with a directory and break the loader).
ldd "$binary" | awk '/=> \// {print $1, $3}' | while read -r name path; do
	if ! grep -qx "$name" <<<"$present"; then
		dir=$(realpath "$(dirname "$path")")
		mkdir -p "$context/rootfs$dir"
		cp -L "$path" "$context/rootfs$dir/$name"
	fi
done

docker build -q --build-arg "BASE=$BASE" -t "$tag" "$context" >&2
docker run --rm --entrypoint pgbouncer "$tag" --version >&2 || die "pgbouncer does not run in $tag (is the base the same Debian release as this machine?)"
printf 'PGBOUNCER_IMAGE=%s\n' "$tag"
