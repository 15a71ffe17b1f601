#!/bin/sh
# The daily commands for people who prefer a script to make: each verb is one
# call of `bot-db` or nox, never a second implementation. POSIX sh (dash, bash).
#
# bot-db is used directly when it is on PATH (an activated venv with the
# package); otherwise through `nox -s db --`, which needs nothing but nox.
set -eu

usage() {
    cat <<'USAGE'
usage: ./dev-env.sh VERB [ARGS...]

  up            database up, then the health check (fails loudly when it fails)
  down          stop the database, keep its data
  db:up         start the database (migrated, seeded)
  db:shell      psql on the database, with the project's .psqlrc (ARGS go to psql)
  db:reset      drop the database and rebuild it (asks first; ARGS e.g. --yes)
  db:seed       apply seeds/ again (an idempotent upsert)
  db:migrate    migrate to head (ARGS e.g. --to REV)
  db:check      health probe: exit 1 with one line saying what to do
  db:status     server, schema revision and row counts
  test          the test suite (nox -s tests; ARGS go to pytest)
  help          this text

Each db:VERB is also accepted as db-VERB, as in the Makefile.
USAGE
}

bot_db() {
    if command -v bot-db >/dev/null 2>&1; then
        bot-db "$@"
    else
        nox -s db -- "$@"
    fi
}

cd "$(dirname "$0")"

if [ "$#" -eq 0 ]; then
    usage >&2
    exit 2
fi
verb=$1
shift

case "$verb" in
    up)
        bot_db up "$@"
        if ! bot_db check; then
            echo "dev-env.sh up: the database did not pass the health check; the line above says why, docs/troubleshooting.md says what to do" >&2
            exit 1
        fi
        ;;
    down)
        bot_db down "$@"
        ;;
    db:up|db-up)
        bot_db up "$@"
        ;;
    db:shell|db-shell)
        bot_db shell "$@"
        ;;
    db:reset|db-reset)
        bot_db reset "$@"
        ;;
    db:seed|db-seed)
        bot_db seed "$@"
        ;;
    db:migrate|db-migrate)
        bot_db migrate "$@"
        ;;
    db:check|db-check)
        bot_db check "$@"
        ;;
    db:status|db-status)
        bot_db status "$@"
        ;;
    test)
        if [ "$#" -gt 0 ]; then
            nox -s tests -- "$@"
        else
            nox -s tests
        fi
        ;;
    help|-h|--help)
        usage
        ;;
    *)
        echo "dev-env.sh: unknown verb '$verb'" >&2
        usage >&2
        exit 2
        ;;
esac
