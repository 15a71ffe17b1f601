"""`bot-db migrations`, and --json on the commands that change state, on a real server."""

from __future__ import annotations

import json

import pytest

from bot_persistence.migrations import head_revision, script_directory
from bot_persistence.settings import Settings
from tests.helpers import bot_db


def revisions(settings: Settings) -> list[str]:
    ordered = [rev.revision for rev in script_directory(settings).walk_revisions()]
    return list(reversed(ordered))


def test_migrations_lists_every_revision_pending_on_an_empty_database(settings: Settings) -> None:
    code, out, err = bot_db(settings, "migrations")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[2] for line in lines[:-1]] == revisions(settings)
    assert all(line.startswith("[ ] ") for line in lines[:-1])
    assert lines[-1] == f"0 applied, {len(revisions(settings))} pending"


def test_migrations_json_marks_applied_current_and_head(settings: Settings) -> None:
    first, *rest = revisions(settings)
    code, out, _ = bot_db(settings, "migrate", "--to", first, "--json")
    assert code == 0
    assert json.loads(out) == {"before": None, "after": first, "changed": True}
    code, out, _ = bot_db(settings, "migrations", "--json")
    assert code == 0
    states = json.loads(out)
    assert [s["revision"] for s in states] == [first, *rest]
    assert [s["applied"] for s in states] == [True] + [False] * len(rest)
    assert [s["current"] for s in states] == [True] + [False] * len(rest)
    assert states[-1]["head"] is True
    assert states[-1]["revision"] == head_revision(settings)


def test_seed_and_check_json_report_what_is_there(settings: Settings) -> None:
    assert bot_db(settings, "migrate")[0] == 0
    code, out, _ = bot_db(settings, "seed", "--json")
    assert code == 0
    assert json.loads(out)["counts"]["users"] == 4
    code, out, _ = bot_db(settings, "check", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True


def test_migrations_on_a_database_ahead_of_the_code_is_the_line_check_gives(
    settings: Settings,
) -> None:
    """Not Alembic's `No such revision` traceback: the one typed line, as `check` says it."""
    from bot_persistence import migrations
    from tests.integration.test_deploy import UNKNOWN, stamp

    migrations.upgrade(settings)
    stamp(settings, UNKNOWN)
    code, out, err = bot_db(settings, "migrations")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    said = err.strip().removeprefix("bot-db: error: ")
    assert UNKNOWN in said and "do not have" in said
    code, checked, checked_err = bot_db(settings, "check")
    assert code == 1 and said in checked + checked_err
    code, out, _ = bot_db(settings, "migrations", "--json")
    assert json.loads(out)["error"]["type"] == "SchemaAheadOfCodeError"


def test_shell_opens_a_database_ahead_of_the_code_with_a_warning(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    from bot_persistence import migrations
    from tests.integration.test_deploy import UNKNOWN, stamp

    migrations.upgrade(settings)
    stamp(settings, UNKNOWN)
    code, _, err = bot_db(
        settings, "shell", "--", "-At", "-c", "SELECT version_num FROM alembic_version"
    )
    assert code == 0
    assert err.startswith("bot-db: warning: ") and "opening psql anyway" in err
    assert UNKNOWN in capfd.readouterr().out  # psql wrote to the terminal itself
