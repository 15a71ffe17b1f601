"""The files and habits the Python ecosystem expects, checked so that they stay true.

Packaging (hatchling new enough for `license-files`, psycopg as libraries
should depend on it, each import declared where it is imported), the supported
Pythons said once, and the files tools and people look for: a changelog with a
tag scheme, a security policy, pre-commit hooks, Dependabot, a workflow that
installs what its tests need.
"""

from __future__ import annotations

import re
from typing import Any

import nox.project
import yaml

from bot_persistence.project import project_root

ROOT = project_root()
PYPROJECT: dict[str, Any] = nox.project.load_toml(ROOT / "pyproject.toml")
PROJECT: dict[str, Any] = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]


def names(requirements: list[str]) -> list[str]:
    return [re.split(r"[<>=;~! ]", req, maxsplit=1)[0] for req in requirements]


def pythons() -> list[str]:
    return [
        c.rsplit(" ", 1)[-1]
        for c in PROJECT["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    ]


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    return loaded


def test_hatchling_is_new_enough_to_write_license_files() -> None:
    assert "license-files" in PROJECT
    assert PYPROJECT["build-system"]["requires"] == ["hatchling>=1.27"]


def test_the_library_depends_on_psycopg_and_leaves_the_libpq_to_the_application() -> None:
    assert "psycopg" in names(PROJECT["dependencies"])
    assert "psycopg[binary]" not in names(PROJECT["dependencies"])
    assert EXTRAS["binary"] == ["psycopg[binary]>=3.2"]


def test_every_development_extra_brings_a_libpq() -> None:
    for extra in ("embedded", "docker", "testing", "docs"):
        assert "psycopg[binary]" in names(EXTRAS[extra]), extra


def test_psutil_and_shtab_are_declared_where_they_are_imported() -> None:
    assert "psutil" in names(EXTRAS["embedded"])  # provision/ inspects the server's processes
    assert "shtab" not in names(PROJECT["dependencies"])  # only `bot-db completion` needs it
    assert names(EXTRAS["completion"]) == ["shtab"]


def test_the_workflow_runs_the_pythons_pyproject_states() -> None:
    jobs = workflow()["jobs"]
    assert jobs["tests"]["strategy"]["matrix"]["python"] == pythons()
    crossed = jobs["integration"]["strategy"]["matrix"]["python"]
    assert crossed == [pythons()[0], pythons()[-1]]


def test_every_job_running_the_pgbouncer_tests_installs_pgbouncer() -> None:
    for name in ("tests", "integration"):
        steps = " ".join(step.get("run", "") for step in workflow()["jobs"][name]["steps"])
        assert re.search(r"apt-get install[^\n]*\bpgbouncer\b", steps), name


def test_the_changelog_keeps_an_unreleased_section_and_says_how_versions_are_tagged() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text
    assert "keepachangelog.com" in text
    assert "`vX.Y.Z`" in text
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)
    assert PROJECT["version"] in released or "## [Unreleased]" in text


def test_the_security_policy_says_how_to_report_and_what_the_guards_promise() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    assert "## Reporting a problem" in text
    assert "## What the project promises" in text
    assert "BOT_DB_ENVIRONMENT=production" in text


def test_pre_commit_runs_ruff() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"] for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "lock", "docs-check"} <= hooks


def test_dependabot_updates_the_lock_and_the_pinned_actions() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"pip", "github-actions"}
