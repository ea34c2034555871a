"""A sweep as a person asks for it — `gpt-tui sweep METHOD ...` or the sweep screen's form — one
typed value both build, made into a checked plan. Light: no torch, no optuna."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from engine.core import config as cfgmod
from engine.core.config import ConfigError, Problem
from engine.store import runs as st
from engine.sweeps import files as sf
from engine.sweeps import plan as sp
from engine.sweeps import spec as sw

METHODS = ("grid", "random", "tpe", "file")
MAX_HOURS = sw.MAX_TOTAL_SECONDS // 3600


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """None and the empty tuple mean "not given": the file's value, else the spec's default."""

    method: str  # grid, random, tpe, or file (a sweep TOML file)
    params: tuple[str, ...] = ()  # NAME=VALUES texts; not for a file
    file: Path | None = None  # the sweep file, for method "file"
    preset: str | None = None
    config: Path | None = None
    overrides: tuple[str, ...] = ()  # key=value texts, applied in order after preset and config
    name: str | None = None
    n_trials: int | None = None
    seed: int | None = None
    keep_effective_batch: bool = False
    scale_lr: str | None = None
    early_stop: str | None = None
    early_stop_startup: int | None = None
    early_stop_min_step: int | None = None
    early_stop_eta: int | None = None
    max_trials: int | None = None
    max_hours: float | None = None
    parallel: int | None = None
    proxy: tuple[str, ...] = ()  # KEY=VALUE texts: the narrow µP width trials train at (engine.sweeps.proxy)
    priority: int = 0

    def plan(self, store: st.Store) -> sp.Plan:
        """The checked plan; ConfigError with every problem when the sweep cannot run."""
        return sp.plan(self.spec_from_file(store) if self.method == "file" else self.spec(store))

    def spec(self, store: st.Store) -> sw.SweepSpec:
        """The spec of a grid, random or TPE request; every problem (params and base) reported at once."""
        problems: list[Problem] = []
        params, base = {}, None
        try:
            params = sw.parse_params(self.params)
        except ConfigError as e:
            problems.extend(e.problems)
        try:
            base = cfgmod.resolve(self.preset, self.config, self.overrides)
        except ConfigError as e:
            problems.extend(e.problems)
        if problems or base is None:
            raise ConfigError(problems, "sweep")
        spec = sw.SweepSpec(
            id=sf.new_id(store, self.name or self.method),
            method=self.method,
            params=params,
            base=base.to_dict(),
            preset=self.preset or "",
        )
        return self.applied(spec)

    def spec_from_file(self, store: st.Store) -> sw.SweepSpec:
        path = Path(self.file or "")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([Problem("file", f"cannot read {path}: {e}")]) from None
        # Checked whole by plan(), once the request's options are applied (-n may complete it).
        spec = sw.from_toml(text, source=str(path), default_id=sw.slug(path.stem) or "sweep", check=False)
        preset = self.preset or spec.preset
        start = cfgmod.preset(preset) if preset else cfgmod.DEFAULTS
        data = {
            **spec.base,
            **(cfgmod.read_mapping(self.config) if self.config else {}),
            **cfgmod.overrides_to_mapping(self.overrides),
        }
        base = cfgmod.from_mapping(data, start, source=f"{path} [base]")
        spec = dataclasses.replace(spec, id=sf.new_id(store, self.name or spec.id), preset=preset, base=base.to_dict())
        return self.applied(spec)

    def applied(self, spec: sw.SweepSpec) -> sw.SweepSpec:
        """The options given win over the file's (or the defaults)."""
        changes = {
            k: v
            for k, v in (
                ("n_trials", self.n_trials),
                ("seed", self.seed),
                ("max_trials", self.max_trials),
                ("parallel", self.parallel),
                ("scale_lr_with_batch", self.scale_lr),
            )
            if v is not None
        }
        if not -99 <= self.priority <= 99:  # checked before the sweep file is written, not at its first trial
            raise ConfigError([Problem("--priority", f"must be from -99 to 99, got {self.priority}")])
        if self.keep_effective_batch:
            changes["keep_effective_batch"] = True
        if self.proxy:
            try:
                changes["proxy"] = cfgmod.overrides_to_mapping(self.proxy)
            except ConfigError as e:
                raise ConfigError(e.problems, "--proxy") from None
        if self.max_hours is not None:
            if not 0 < self.max_hours <= MAX_HOURS:  # refuses inf and nan too
                limit = f"must be above 0 and at most {MAX_HOURS:,} (ten years), got {self.max_hours}"
                raise ConfigError([Problem("--max-hours", limit)])
            changes["max_total_seconds"] = self.max_hours * 3600.0
        es = {
            k: v
            for k, v in (
                ("rule", self.early_stop),
                ("n_startup", self.early_stop_startup),
                ("min_step", self.early_stop_min_step),
                ("eta", self.early_stop_eta),
            )
            if v is not None
        }
        if es:
            changes["early_stopping"] = dataclasses.replace(spec.early_stopping, **es)
        return dataclasses.replace(spec, **changes)

    def command_line(self) -> str:
        """The `gpt-tui sweep` command that asks for this sweep (the sweep screen shows it)."""
        parts = ["gpt-tui", "sweep", self.method, *([str(self.file)] if self.method == "file" else self.params)]
        for flag, key in (
            ("--preset", "preset"),
            ("--config", "config"),
            ("--name", "name"),
            ("-n", "n_trials"),
            ("--seed", "seed"),
            ("--scale-lr", "scale_lr"),
            ("--early-stop", "early_stop"),
            ("--early-stop-startup", "early_stop_startup"),
            ("--early-stop-min-step", "early_stop_min_step"),
            ("--early-stop-eta", "early_stop_eta"),
            ("--max-trials", "max_trials"),
            ("--max-hours", "max_hours"),
            ("--parallel", "parallel"),
        ):
            if getattr(self, key) not in (None, ""):
                parts += [flag, str(getattr(self, key))]
        for override in self.overrides:
            parts += ["--set", override]
        for width in self.proxy:
            parts += ["--proxy", width]
        if self.keep_effective_batch:
            parts.append("--keep-effective-batch")
        if self.priority:
            parts += ["--priority", str(self.priority)]
        return " ".join(shlex.quote(p) for p in parts)
