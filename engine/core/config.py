"""RunConfig: every hyperparameter of a run, its help, validation, TOML form and presets."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from engine.core import regular
from engine.core.coerce import check_type, coerce_text, parse_text, range_text  # noqa: F401 - config.check_type
from engine.core.fields import *  # noqa: F403 - the config's types are used as config.RunConfig everywhere
from engine.core.fields import (
    DEFAULTS,
    FIELDS,
    ConfigError,
    DeviceCaps,
    Problem,
    RunConfig,
    suggest,
    unknown_key,
)
from engine.core.presets import PRESETS
from engine.core.rules import check_all, resolved_device_kind, resolved_dtype  # noqa: F401 - config.resolved_*

# -- building configs -------------------------------------------------------------------


def from_mapping(
    data: Mapping[str, Any], base: RunConfig = DEFAULTS, caps: DeviceCaps | None = None, source: str = ""
) -> RunConfig:
    """A validated RunConfig from `base` with `data` applied; ConfigError lists every problem."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    bad: set[str] = set()
    for key, value in data.items():
        if key not in FIELDS:
            problems.append(unknown_key(key))
            continue
        try:
            values[key] = check_type(key, value)
        except ValueError as e:
            problems.append(Problem(key, str(e)))
            bad.add(key)
    cfg = dataclasses.replace(base, **values)
    problems.extend(validate(cfg, caps, skip=bad))
    if problems:
        raise ConfigError(problems, source)
    return cfg


def parse_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            [Problem(key or text, f"override {text!r} must look like key=value, e.g. learning_rate=3e-4")]
        )
    return key, value


def overrides_to_mapping(overrides: Iterable[str]) -> dict[str, Any]:
    """Values from `key=value` texts, typed where the text fits the field.

    Text that does not fit (or an unknown key) is kept as it is, and a number is kept as read even
    past its field's range (99999999999999999999999, 1e999), so that from_mapping reports it, with
    the field's allowed range, together with every other problem.
    """
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for text in overrides:
        try:
            key, value = parse_override(text)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        try:
            out[key] = parse_text(key, value) if key in FIELDS else value
        except ValueError:
            out[key] = value
    if problems:
        raise ConfigError(problems, "--set")
    return out


def to_toml(c: RunConfig) -> str:
    return tomli_w.dumps(c.to_dict())


def toml_mapping(text: str, source: str = "") -> dict[str, Any]:
    """The key/value pairs of a config TOML text, before any type checks."""
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as e:  # bad TOML, an int too long to convert, deep nesting
        raise ConfigError([Problem("toml", f"not valid TOML ({first_line(e)}); fix the syntax")], source) from None
    tables = [k for k, v in data.items() if isinstance(v, dict)]
    if tables:
        raise ConfigError(
            [
                Problem(k, "tables are not allowed; write hyperparameters as top-level key = value lines")
                for k in tables
            ],
            source,
        )
    return data


def first_line(e: BaseException) -> str:
    """An error's message cut to one short line, for a Problem or a status reason."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def from_toml(text: str, base: RunConfig = DEFAULTS, caps: DeviceCaps | None = None, source: str = "") -> RunConfig:
    return from_mapping(toml_mapping(text, source), base, caps, source)


def read_mapping(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:  # a config may come from the store, where anyone may have put a FIFO or a huge file
        text = regular.read_regular(p, regular.STATE_CAP).decode("utf-8")
    except (OSError, UnicodeDecodeError, regular.UnreadableFile) as e:
        raise ConfigError([Problem("file", f"cannot read {p}: {e}")], str(p)) from None
    return toml_mapping(text, str(p))


def load(path: str | Path, base: RunConfig = DEFAULTS, caps: DeviceCaps | None = None) -> RunConfig:
    return from_mapping(read_mapping(path), base, caps, source=str(path))


def validate(c: RunConfig, caps: DeviceCaps | None = None, skip: Iterable[str] = ()) -> list[Problem]:
    """Every problem with a config at once (the rules live in engine.core.rules)."""
    return check_all(c, caps, skip)


def preset(name: str) -> RunConfig:
    """A built-in preset (engine.core.presets), validated."""
    if name not in PRESETS:
        raise ConfigError(
            [Problem("preset", f"unknown preset {name!r}{suggest(name, PRESETS)} (choose from {', '.join(PRESETS)})")]
        )
    return from_mapping(PRESETS[name], source=f"preset {name}")


def resolve(
    preset_name: str | None = None,
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    caps: DeviceCaps | None = None,
) -> RunConfig:
    """preset, then file, then overrides: the order the CLI and TUI apply them in."""
    base = preset(preset_name) if preset_name else DEFAULTS
    data = dict(read_mapping(config_file)) if config_file is not None else {}
    data.update(overrides_to_mapping(overrides))
    source = ", ".join(
        filter(
            None,
            [
                f"preset {preset_name}" if preset_name else "",
                str(config_file) if config_file else "",
                "--set" if overrides else "",
            ],
        )
    )
    return from_mapping(data, base, caps, source=source)
