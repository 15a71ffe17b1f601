"""`--json` anywhere, and exactly one JSON document on standard output whatever happens."""

from __future__ import annotations

import json

import pytest

from bot_persistence import cli
from bot_persistence.cli.output import wants_colour
from bot_persistence.provision.base import free_port
from bot_persistence.settings import Settings
from tests.helpers import bot_db


def nobody_answers() -> Settings:
    """Settings of a server that is not running: a free port on loopback."""
    return Settings.from_values(
        branch_databases=False, postgres_port=free_port(), connect_timeout=1, backend="external"
    )


def one_document(out: str) -> dict[str, object]:
    document = json.loads(out)  # fails on two documents, on lines around one, on nothing
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize(
    "argv",
    [["--json", "status"], ["status", "--json"], ["--json", "snapshot", "list"],
     ["snapshot", "--json", "list"], ["snapshot", "list", "--json"], ["-v", "--json", "url"]],
    ids=["before", "after", "before-group", "between", "after-group", "with-others"],
)  # fmt: skip
def test_json_is_a_global_option_before_or_after_the_command(argv: list[str]) -> None:
    assert cli.build_parser().parse_args(argv).json is True


@pytest.mark.parametrize(
    "argv",
    [["migrations", "--json"], ["--json", "snapshot", "list"], ["branch", "list", "--json"],
     ["--json", "check"], ["--json", "seed"]],
    ids=["migrations", "snapshot-list", "branch-list", "check", "seed"],
)  # fmt: skip
def test_a_server_that_is_down_is_one_json_document(argv: list[str]) -> None:
    code, out, err = bot_db(nobody_answers(), *argv)
    assert code != 0
    document = one_document(out)
    assert document["ok"] is False
    if isinstance(document["error"], dict):  # check reports the probe itself, its own keys
        error = document["error"]
        assert isinstance(error, dict) and set(error) == {"type", "message", "hint"}
        if "branch" not in argv:  # branch list: refused, branch databases are off here
            assert error["type"] == "ServerNotRunningError"
            assert "bot-db up" in str(error["hint"])
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "kind", "code"),
    [(["--json", "no-such-command"], "UsageError", 2),
     (["status", "--json", "--no-such-option"], "UsageError", 2),
     (["--json", "erd"], "ConfigurationError", 2)],
    ids=["unknown-command", "unknown-option", "no-json-output"],
)  # fmt: skip
def test_a_refused_command_line_is_one_json_document(
    argv: list[str], kind: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    got, out, _ = bot_db(nobody_answers(), *argv)
    assert got == code
    document = one_document(out)
    assert document["ok"] is False
    assert isinstance(document["error"], dict) and document["error"]["type"] == kind
    assert "usage:" not in capsys.readouterr().err  # argparse's text is kept back


@pytest.mark.parametrize(
    ("terminal", "environ", "colour"),
    [
        (True, {}, True),
        (False, {}, False),
        (False, {"FORCE_COLOR": "1"}, True),
        (False, {"FORCE_COLOR": "0"}, False),
        (True, {"NO_COLOR": "1"}, False),
        (False, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),
    ],
    ids=["terminal", "pipe", "forced", "forced-off", "no-color", "no-color-wins", "empty"],
)
def test_force_color_and_no_color(terminal: bool, environ: dict[str, str], colour: bool) -> None:
    assert wants_colour(terminal, environ) is colour
