"""What a session passes on: the PostgreSQL majors to run, and `-- ARGS` reshaped per run."""

from __future__ import annotations

#: The PostgreSQL majors the project supports, oldest first; CI runs each.
POSTGRES_MAJORS = ("15", "16", "17", "18")


def roundtrip_runs(posargs: list[str]) -> list[list[str]]:
    """One `bot-db roundtrip` per major: the oldest and newest unless `--pg`/`--url` is given.

    Each runs in a container through testcontainers where a Docker engine
    answers (`--container`); bot-db falls back to local binaries, saying so.
    """
    if "--url" in posargs or any(arg.startswith("--url=") for arg in posargs):
        return [list(posargs)]
    if "--pg" in posargs or any(arg.startswith("--pg=") for arg in posargs):
        return [["--container", *posargs]]
    return [
        ["--container", "--pg", major, *posargs]
        for major in (POSTGRES_MAJORS[0], POSTGRES_MAJORS[-1])
    ]


#: The branch whose revisions a rehearsal starts from (`-- --from-git REF` for another).
REHEARSAL_BASE = "main"
#: CI-sized data: 200,000 playlist tracks, a rehearsal in well under a minute.
REHEARSAL_SCALE = "2"


def rehearsal_runs(posargs: list[str]) -> list[list[str]]:
    """One `bot-db rehearse` per major (the oldest and newest) of what a branch adds over main.

    Each on a throw-away server (`--pg`, a container where an engine answers);
    `--from-git main` starts from main's newest revision, so a branch that adds
    none is a one-line success. `--pg`, `--from`/`--from-git` or `--scale` in
    the arguments replace the defaults.
    """

    def given(flag: str) -> bool:
        return any(arg == flag or arg.startswith(f"{flag}=") for arg in posargs)

    common = [] if given("--scale") else ["--scale", REHEARSAL_SCALE]
    if not (given("--from") or given("--from-git")):
        common += ["--from-git", REHEARSAL_BASE]
    if given("--pg"):
        return [["--container", *common, *posargs]]
    return [
        ["--container", "--pg", major, *common, *posargs]
        for major in (POSTGRES_MAJORS[0], POSTGRES_MAJORS[-1])
    ]


def integration_args(posargs: list[str]) -> list[str]:
    """The newest major unless `--db-pg` is given: a container where an engine answers."""
    if any(arg == "--db-pg" or arg.startswith("--db-pg=") for arg in posargs):
        return list(posargs)
    return ["--db-pg", POSTGRES_MAJORS[-1], *posargs]


def without_marker_expression(posargs: list[str]) -> list[str]:
    """The arguments minus any `-m EXPR`: the fault run selects by its own marker.

    `nox -s integration -- -m "integration and not docker"` narrows the
    integration run; passed on as is, the later `-m` would replace `-m faults`
    and select nothing (pytest's exit 5).
    """
    kept: list[str] = []
    skip_next = False
    for arg in posargs:
        if skip_next:
            skip_next = False
        elif arg == "-m":
            skip_next = True
        elif not (arg.startswith("-m") and len(arg) > 2):
            kept.append(arg)
    return kept
