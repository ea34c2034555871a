"""The editor's logic without widgets: field texts to a config and its problems by field, the
device the engine will train on, and what the config will cost there."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.core.rules import warnings_for
from engine.store import runs as st
from engine.store import throughput
from tui.models import data_budget as db

FORM_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (g, tuple(cfgmod.fields_in_group(g))) for g in cfgmod.GROUPS
)
CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": cfgmod.DTYPES,
    "parametrization": cfgmod.PARAMETRIZATIONS,
    "tokenizer": cfgmod.TOKENIZERS_BUILTIN + cfgmod.TIKTOKEN_ENCODINGS,
    **{name: ("true", "false") for name in cfgmod.FIELDS if cfgmod.field_type(name) is bool},
}
SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "device": ("auto", "cpu", "cuda", "cuda:0", "cuda:1", "mps"),
    "dataset": ("pydocs",),
}
CALIBRATION_RUNS = 10  # the newest finished runs on the device that time estimates learn from
ASSUMED_GPU_MFU = 0.4  # before any run has finished on a GPU, as `gpt-tui estimate` assumes
WARNING_LABEL = "⚠ warning"  # the estimate panel's line for data out of the usual range


def text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def form_texts(cfg: cfgmod.RunConfig) -> dict[str, str]:
    return {name: text_of(value) for name, value in cfg.to_dict().items()}


@dataclass
class FormCheck:
    config: cfgmod.RunConfig | None
    problems: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # unusual, but it trains


def check_form(texts: Mapping[str, str], caps: cfgmod.DeviceCaps | None = None) -> FormCheck:
    """The config the form describes, or every problem with the field it belongs to.

    Text that does not parse is handed to from_mapping as text, so its message is the one the
    CLI gives (`batch_size=12x4` is told about gradient_accumulation_steps)."""
    values: dict[str, Any] = {}
    for name, text in texts.items():
        try:
            values[name] = cfgmod.coerce_text(name, text)
        except ValueError:
            values[name] = text
    try:
        cfg = cfgmod.from_mapping(values, caps=caps)
    except cfgmod.ConfigError as e:
        problems: dict[str, list[str]] = defaultdict(list)
        for p in e.problems:
            problems[p.field].append(p.message)
        return FormCheck(None, dict(problems))
    warnings: dict[str, list[str]] = defaultdict(list)
    for p in warnings_for(cfg, caps):
        warnings[p.field].append(p.message)
    return FormCheck(cfg, warnings=dict(warnings))


def dataset_problem(dataset: str, text_field: str = "text") -> str | None:
    """Why a run could not read `dataset`, or None: asked when a run is queued, as `estimate` asks
    it, since a missing path would fail only once a worker started the run. Reads files (a record
    file's first record, a hub dataset's cache): off the UI thread."""
    from engine.data.sources import dataset_problem as problem

    return problem(dataset, text_field)


# -- the device and its measured speed -------------------------------------------------


@dataclass(frozen=True)
class Device:
    """What the engine will train on: a GPU (NVML) or this machine's CPU and RAM."""

    name: str
    kind: str  # "cuda" or "cpu"
    memory: int
    peak_flops: float | None = None

    @property
    def memory_label(self) -> str:
        return "VRAM" if self.kind == "cuda" else "RAM"


def engine_device(store: st.Store) -> Device:
    import psutil

    from engine.serve import engines as eng
    from engine.serve.devices import cpu_name, gpus

    found = {g.index: g for g in gpus()}
    engine = eng.local_engine(store)
    serving = [i for i in (engine.record.gpus if engine else found) if i in found]
    if serving:
        g = found[serving[0]]
        return Device(g.name, "cuda", g.total_bytes, est.peak_flops_for(g.name))
    return Device(cpu_name(), "cpu", psutil.virtual_memory().total)


@dataclass(frozen=True)
class Calibration:
    """Achieved training FLOP/s on one device and start-up per run: medians over its finished runs."""

    flops_per_s: float
    runs: int
    startup_s: float = 0.0


def calibrate(store: st.Store, device_name: str) -> Calibration | None:
    """From the results ledger, steps and start-up apart (throughput.measured, as the sweep form and
    `gpt-tui estimate` read it); a store with no ledger row for the device (a copied one) falls back
    on its runs' statuses, at their last logged speed."""
    m = throughput.measured(store, device=device_name)
    if m is not None:
        return Calibration(m.flops_per_s, m.runs, m.startup_s)
    done = []
    for run_id, status in store.statuses().items():
        if (
            isinstance(status, st.Status)
            and status.state == st.RunState.DONE
            and status.device == device_name
            and status.tokens_per_s is not None
            and status.vocab_size
        ):
            done.append((run_id, status))
    achieved = []
    for run_id, status in sorted(done, reverse=True)[:CALIBRATION_RUNS]:
        try:
            cfg = cfgmod.load(store.config_path(run_id))
        except (cfgmod.ConfigError, st.StoreError):
            continue
        achieved.append(status.tokens_per_s * est.flops_per_token(cfg, status.vocab_size))
    if not achieved:
        return None
    return Calibration(statistics.median(achieved), len(achieved))


# -- the estimate panel ----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    note: str = ""
    style: str = ""


def estimate_lines(
    cfg: cfgmod.RunConfig,
    vocab: int,
    device: Device | None,
    calibration: Calibration | None,
    datasets_dir: Path | None = None,
) -> list[Line]:
    """The panel's lines; with `datasets_dir`, tokens per parameter and epochs from the prepared
    dataset there (reads meta.toml: off the UI thread)."""
    caps = cfgmod.DeviceCaps(cuda_count=1 if device and device.kind == "cuda" else 0, cuda_bf16=True)
    dtype = cfgmod.resolved_dtype(cfg, caps)
    e = est.estimate(cfg, vocab, dtype)
    lines = [
        Line("parameters", f"{e.params:,}"),
        Line("non-embedding", f"{e.non_embedding:,}"),
        Line("FLOPs/token", est.human_count(e.flops_per_token)),
        Line("tokens/iter", f"{e.tokens_per_iter:,}"),
        Line("effective batch", cfg.batch_label),
    ]
    if (mup := est.width_multiplier_text(cfg)) is not None:
        lines.append(Line("µP", mup))
    lines.append(_memory_line(e.memory.total, dtype, device))
    lines.append(time_line(cfg, vocab, device, calibration))
    if datasets_dir is not None:
        lines.extend(data_lines(cfg, vocab, db.prepared_train_tokens(cfg, datasets_dir)))
    return lines


def data_lines(cfg: cfgmod.RunConfig, vocab: int, train_tokens: int | None) -> list[Line]:
    """Tokens per parameter and epochs, and a warning line when either is out of the usual range."""
    if train_tokens is None:
        return [Line("tokens/param", "not prepared", db.NOT_PREPARED, "dim")]
    b = db.budget(cfg, vocab, train_tokens)
    low, high = b.tokens_per_param < db.MIN_TOKENS_PER_PARAM, b.epochs > db.MAX_EPOCHS
    lines = [
        Line(
            "tokens/param",
            f"{b.tokens_per_param:,.2f}",
            f"{est.human_count(train_tokens)} train tokens",
            "yellow" if low else "",
        ),
        Line(
            "epochs",
            f"{b.epochs:,.2f}",
            f"the run reads {est.human_count(b.run_tokens)} tokens",
            "yellow" if high else "",
        ),
    ]
    if warnings := b.warnings():
        lines.append(
            Line(WARNING_LABEL, " · ".join(w for w, _ in warnings), "; ".join(a for _, a in warnings), "yellow")
        )
    return lines


def _memory_line(total: int, dtype: str, device: Device | None) -> Line:
    if device is None:
        return Line("memory", est.human_bytes(total), f"{dtype}; device not known yet")
    share = total / device.memory if device.memory else 0.0
    style = "red" if share > 0.9 else "yellow" if share > 0.6 else "green"
    verdict = "does not fit in" if share > 1 else "under 1% of" if share < 0.01 else f"{share:.0%} of"
    return Line(
        "memory",
        est.human_bytes(total),
        f"{verdict} {est.human_bytes(device.memory)} {device.memory_label} ({dtype})",
        style,
    )


def time_line(cfg: cfgmod.RunConfig, vocab: int, device: Device | None, calibration: Calibration | None) -> Line:
    """The run's time on this machine: its FLOPs (evaluations included) at the speed measured here,
    plus the start-up measured here; before any run has finished, a GPU's at an assumed MFU."""
    run_flops = throughput.run_flops(cfg, vocab)
    if calibration is not None:
        rate = calibration.flops_per_s / est.flops_per_token(cfg, vocab)
        seconds = run_flops / calibration.flops_per_s + calibration.startup_s
        startup = f" + {est.human_seconds(calibration.startup_s)} start-up" if calibration.startup_s else ""
        runs = f"{calibration.runs} finished run{'s' if calibration.runs > 1 else ''}"
        return Line("time", est.human_seconds(seconds), f"at {rate:,.0f} tok/s{startup}, measured from {runs} here")
    if device is not None and device.peak_flops:
        flops_per_s = device.peak_flops * ASSUMED_GPU_MFU
        return Line(
            "time",
            est.human_seconds(run_flops / flops_per_s),
            f"at {ASSUMED_GPU_MFU:.0%} MFU (no finished run here to measure from yet)",
        )
    return Line("time", "unknown", "no finished run on this device yet to measure speed from")
