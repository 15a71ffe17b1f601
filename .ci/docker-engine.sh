#!/usr/bin/env bash
# Make sure a Docker engine is installed and answering on this machine.
#
# The CI machines and shared dev VMs have no init system that would start
# dockerd for us, so this script does it: install the Debian packages when
# they are missing, start dockerd in the background on the default unix
# socket, and wait (bounded) until `docker info` answers.  Running it again
# while the engine is up is a no-op, so every job can call it first.
#
# Published ports default to 127.0.0.1 (--ip), so a container started with
# a bare `-p 5432:5432` is still only reachable from this machine.
#
# Environment overrides:
#   DOCKERD_LOG             log file of the daemon       (/tmp/dockerd.log)
#   DOCKERD_STORAGE_DRIVER  storage driver to pin        (overlay2)
#   DOCKERD_EXTRA_ARGS      more dockerd flags, word-split
#   DOCKERD_WAIT_SECONDS    how long to wait for the API (60)
set -euo pipefail

SOCK=/var/run/docker.sock
PIDFILE=/var/run/docker.pid
LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
STORAGE_DRIVER=${DOCKERD_STORAGE_DRIVER:-overlay2}
WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}
PACKAGES=(docker.io docker-compose mmdebstrap)

say() { printf 'docker-engine: %s\n' "$*"; }
die() { printf 'docker-engine: error: %s\n' "$*" >&2; exit 1; }

# Always talk to the local default socket, whatever DOCKER_HOST says.
engine_answers() { docker -H "unix://$SOCK" info >/dev/null 2>&1; }

dockerd_pid() {
    local pid
    [ -r "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    printf '%s\n' "$pid"
}

log_tail() {
    [ -r "$LOG" ] || return 0
    printf -- '--- last lines of %s (grpc chatter left out) ---\n' "$LOG" >&2
    grep -v 'module=grpc' "$LOG" | tail -n 20 >&2
    # the two usual suspects on VMs and in containers
    if tail -n 50 "$LOG" | grep -qiE 'graphdriver|overlay'; then
        printf 'hint: try DOCKERD_STORAGE_DRIVER=vfs (slower, works everywhere)\n' >&2
    fi
    if tail -n 50 "$LOG" | grep -qiE 'iptables|nat chain'; then
        printf 'hint: try DOCKERD_EXTRA_ARGS=--iptables=false (published ports then rely on docker-proxy)\n' >&2
    fi
}

# Poll until the API answers; fail early if the daemon process is gone.
wait_for_engine() {
    local pid=$1 tries=$((WAIT_SECONDS * 2)) i
    for ((i = 0; i < tries; i++)); do
        if engine_answers; then
            return 0
        fi
        if ! [ -d "/proc/$pid" ]; then
            log_tail
            die "dockerd (pid $pid) exited before answering; see $LOG"
        fi
        sleep 0.5
    done
    log_tail
    die "dockerd (pid $pid) did not answer 'docker info' within ${WAIT_SECONDS}s; see $LOG"
}

if engine_answers; then
    say "engine already running ($(docker -H "unix://$SOCK" info --format '{{.ServerVersion}}, storage {{.Driver}}'))"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages and starts dockerd)"

# One runner at a time: a second concurrent call waits here, then finds the
# engine answering and returns.
exec 9>/run/docker-engine-setup.lock
flock -w $((WAIT_SECONDS + 120)) 9 || die "timed out waiting for another run of $0"

if engine_answers; then
    say "engine already running (started by a concurrent run)"
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [ "${status%% *}" = ii ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    # Keep the package's init script from starting a dockerd with default
    # flags; this script starts it below with the flags we want.
    policy_added=
    if ! [ -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    trap '[ -z "${policy_added:-}" ] || rm -f /usr/sbin/policy-rc.d' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [ -n "$policy_added" ]; then
        rm -f /usr/sbin/policy-rc.d
        policy_added=
    fi
fi
command -v dockerd >/dev/null || die "dockerd not found after installing docker.io"

if pid=$(dockerd_pid); then
    say "dockerd already running (pid $pid) but not answering yet; waiting"
    wait_for_engine "$pid"
    say "engine ready"
    exit 0
fi

flags=(
    --host="unix://$SOCK"
    --ip=127.0.0.1
    --storage-driver="$STORAGE_DRIVER"
)
# shellcheck disable=SC2206  # word splitting is the point
[ -z "${DOCKERD_EXTRA_ARGS:-}" ] || flags+=(${DOCKERD_EXTRA_ARGS})

say "starting dockerd ${flags[*]} (log: $LOG)"
printf '\n=== %s docker-engine.sh: dockerd %s\n' "$(date -u +%FT%TZ)" "${flags[*]}" >>"$LOG"
# setsid: own session, so the daemon outlives this shell and its job group.
# 9>&-: the daemon must not inherit (and so hold forever) the setup lock.
setsid dockerd "${flags[@]}" </dev/null >>"$LOG" 2>&1 9>&- &
pid=$!
wait_for_engine "$pid"
say "engine ready (pid $pid, $(docker -H "unix://$SOCK" info --format '{{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}}'))"
