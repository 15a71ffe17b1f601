#!/usr/bin/env bash
# Build the offline PostgreSQL 15 image (see README.md in this directory).
#
#   compose/image/build.sh [--rebuild] [TAG]
#
# 1. mmdebstrap makes a Debian bookworm root filesystem with postgresql-15
#    from this machine's own apt sources, streamed as a tarball into
#    `docker import` (the base image, TAG-rootfs);
# 2. `docker build` adds the entrypoint and settings from ./Dockerfile.
#
# TAG defaults to $OFFLINE_POSTGRES_IMAGE, else bot-persistence/postgres:15-offline.
# If TAG already exists the build is skipped, unless --rebuild is given.
# The last line on stdout is POSTGRES_IMAGE=TAG.
#
# Environment:
#   OFFLINE_POSTGRES_IMAGE  default tag
#   APT_SOURCES             apt sources file(s) for mmdebstrap, space
#                           separated (default: the host's Debian sources)
set -euo pipefail

DEFAULT_TAG=bot-persistence/postgres:15-offline
SUITE=bookworm
PACKAGES=postgresql-15,locales,tzdata,xz-utils,zstd
HERE=$(cd "$(dirname "$0")" && pwd)

say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit "${1:-2}"
}

rebuild=
tag=
while [ $# -gt 0 ]; do
	case "$1" in
		--rebuild) rebuild=1 ;;
		-h|--help) usage 0 ;;
		-*) say "unknown option: $1"; usage ;;
		*) [ -z "$tag" ] || { say "more than one TAG given"; usage; }; tag=$1 ;;
	esac
	shift
done
tag=${tag:-${OFFLINE_POSTGRES_IMAGE:-$DEFAULT_TAG}}
# name without an explicit tag means :latest, as docker does
case "${tag##*/}" in *:*) ;; *) tag=$tag:latest ;; esac
base_tag=$tag-rootfs

command -v docker >/dev/null 2>&1 || die "docker CLI not found (install docker.io, e.g. with .ci/docker-engine.sh)"
docker info >/dev/null 2>&1 || die "cannot reach the Docker engine${DOCKER_HOST:+ at $DOCKER_HOST} (start it with .ci/docker-engine.sh)"

present() { docker image inspect "$tag" >/dev/null 2>&1; }

# Fingerprint of what goes into the image, stored as a label, so a skipped
# build can say that the existing image predates a recipe change.
recipe=$(cat "$HERE/Dockerfile" "$HERE/docker-entrypoint.sh" - <<<"$SUITE $PACKAGES" | sha256sum | cut -c1-16)
recipe_label=org.bot-persistence.image-recipe

skip() {
	local built
	say "image $tag is already present; skipping the build (use --rebuild to force)"
	built=$(docker image inspect --format "{{index .Config.Labels \"$recipe_label\"}}" "$tag" 2>/dev/null || true)
	if [ "$built" != "$recipe" ]; then
		say "note: $tag was built from another version of compose/image; --rebuild to update it"
	fi
	printf 'POSTGRES_IMAGE=%s\n' "$tag"
	exit 0
}

if [ -z "$rebuild" ] && present; then
	skip
fi

command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap not found (apt-get install mmdebstrap, or run .ci/docker-engine.sh)"

if [ -n "${APT_SOURCES:-}" ]; then
	read -r -a sources <<<"$APT_SOURCES"
elif [ -s /etc/apt/sources.list.d/debian.sources ]; then
	sources=(/etc/apt/sources.list.d/debian.sources)
elif grep -qs '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list; then
	sources=(/etc/apt/sources.list)
else
	die "no Debian apt sources found; set APT_SOURCES to a sources.list or .sources file"
fi
for f in "${sources[@]}"; do
	[ -r "$f" ] || die "apt sources file not readable: $f"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bot-persistence-image.XXXXXX")
# --one-file-system: never descend into anything left mounted in there
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two concurrent runs (e.g. CI jobs) build once: the second one waits and
# then finds the image present.
if command -v flock >/dev/null 2>&1; then
	exec 9>"${TMPDIR:-/tmp}/bot-persistence-image-build.lock"
	flock 9
	if [ -z "$rebuild" ] && present; then
		skip
	fi
fi

old_ids=$(docker image inspect --format '{{.Id}}' "$tag" "$base_tag" 2>/dev/null || true)
start=$(date +%s)

# Hooks are shell snippets that mmdebstrap runs with $1 = the new root.
# The essential hooks run before postgresql-common is installed:
#  - no "main" cluster under /var/lib/postgresql/15 (the entrypoint makes
#    one in $PGDATA);
#  - postgres user/group with uid/gid 999 like the official image, so a
#    data volume can move between the two images.
say "bootstrapping Debian $SUITE with $PACKAGES (mmdebstrap, sources: ${sources[*]})"
# mmdebstrap runs with the system PATH: its helpers (mmtarfilter) are
# python3 scripts and must get Debian's python3, not e.g. a pyenv one.
# shellcheck disable=SC2016  # the hooks' $1 is for mmdebstrap to expand
if ! TMPDIR=$tmp PATH=/usr/sbin:/usr/bin:/sbin:/bin mmdebstrap \
	--variant=minbase \
	--include="$PACKAGES" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/info/*' \
	--dpkgopt='path-exclude=/usr/share/lintian/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d"' \
	--essential-hook='echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/no-main-cluster.conf"' \
	--essential-hook='echo "postgres:x:999:" >>"$1/etc/group"' \
	--essential-hook='echo "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash" >>"$1/etc/passwd"' \
	--customize-hook='rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"' \
	--customize-hook='rm -f "$1"/var/log/*.log "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
	"$SUITE" - "${sources[@]}" 2>"$tmp/mmdebstrap.log" \
	| docker import --message "Debian $SUITE + $PACKAGES (mmdebstrap)" - >"$tmp/import.log" 2>&1
then
	# import may have taken a truncated tarball: do not keep that image
	id=$(grep -o 'sha256:[0-9a-f]*' "$tmp/import.log" | tail -n 1 || true)
	[ -z "$id" ] || docker rmi "$id" >/dev/null 2>&1 || true
	tail -n 25 "$tmp/mmdebstrap.log" "$tmp/import.log" >&2
	die "building the root filesystem failed (see above)"
fi
docker tag "$(tail -n 1 "$tmp/import.log")" "$base_tag"
say "root filesystem imported as $base_tag after $(($(date +%s) - start))s"

mkdir "$tmp/context"
cp "$HERE/Dockerfile" "$HERE/docker-entrypoint.sh" "$tmp/context/"
if ! docker build --build-arg BASE="$base_tag" --label "$recipe_label=$recipe" \
	-t "$tag" "$tmp/context" >"$tmp/build.log" 2>&1
then
	tail -n 40 "$tmp/build.log" >&2
	die "docker build failed (see above)"
fi

# A --rebuild leaves the previous image untagged: drop it unless in use.
for id in $old_ids; do
	docker image inspect --format '{{.Id}}' "$tag" "$base_tag" 2>/dev/null | grep -qxF "$id" \
		|| docker rmi "$id" >/dev/null 2>&1 || true
done

size=$(docker image inspect --format '{{.Size}}' "$tag")
say "built $tag ($((size / 1000000)) MB) in $(($(date +%s) - start))s"
printf 'POSTGRES_IMAGE=%s\n' "$tag"
