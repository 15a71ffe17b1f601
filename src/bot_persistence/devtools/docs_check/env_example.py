"""``.env.example`` and ``Settings`` name the same variables, with the same defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

from pydantic import AliasChoices, SecretStr

from bot_persistence.devtools.docs_check.problem import Problem, source_line
from bot_persistence.settings import Settings

__all__ = ["check_env_example"]


def _env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field_name).upper()


def _comparable(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value


def check_env_example(env_example: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """``.env.example`` lists every ``Settings`` variable, only those, with the same defaults.

    A value is compared after ``Settings`` parses it, exactly as a ``.env`` would
    be read, so ``10`` and ``10.0`` agree and a blank ``DATABASE_URL=`` means unset.
    """
    label = shown_as or env_example
    settings_file = Path(inspect.getfile(Settings))
    listed: dict[str, tuple[int, str]] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(env_example.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            problems.append(Problem(label, number, f"{line!r} is not a NAME=value line"))
            continue
        listed[name.strip()] = (number, value.strip().strip("\"'"))
    defaults = Settings.from_values()
    known = {_env_name(field): field for field in Settings.model_fields}
    for env_name, field in known.items():
        if env_name not in listed:
            problems.append(
                Problem(
                    settings_file,
                    source_line(settings_file, f'_env("{env_name}")'),
                    f"Settings reads {env_name}, which {label.name} does not list; "
                    f"add {env_name}={_comparable(getattr(defaults, field)) or ''} with a comment",
                )
            )
            continue
        number, value = listed[env_name]
        try:
            parsed = getattr(Settings.from_values(**{field: value}), field)
        except Exception as exc:  # a value Settings itself would refuse
            problems.append(Problem(label, number, f"{env_name}={value} is not valid: {exc}"))
            continue
        default = getattr(defaults, field)
        if _comparable(parsed) != _comparable(default):
            problems.append(
                Problem(
                    label,
                    number,
                    f"{env_name}={value} but the default in Settings is "
                    f"{_comparable(default)!r}; make them agree",
                )
            )
    for env_name, (number, _) in listed.items():
        if env_name not in known:
            problems.append(
                Problem(
                    label,
                    number,
                    f"{env_name} is not a setting (Settings does not read it); "
                    "remove it or add the field",
                )
            )
    return problems
