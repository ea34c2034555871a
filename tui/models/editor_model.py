"""The editor's logic without widgets: field texts to a config and its problems by field, the
device the engine will train on, and what the config will cost there."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core import config as cfgmod
from engine.core import estimate as est
from engine.store import runs as st

FORM_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (g, tuple(cfgmod.fields_in_group(g))) for g in cfgmod.GROUPS
)
CHOICES: dict[str, tuple[str, ...]] = {
    "dtype": cfgmod.DTYPES,
    "tokenizer": cfgmod.TOKENIZERS_BUILTIN + cfgmod.TIKTOKEN_ENCODINGS,
    **{name: ("true", "false") for name in cfgmod.FIELDS if cfgmod.field_type(name) is bool},
}
SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "device": ("auto", "cpu", "cuda", "cuda:0", "cuda:1", "mps"),
    "dataset": ("pydocs",),
}
CALIBRATION_RUNS = 10  # the newest finished runs on the device that time estimates learn from
ASSUMED_GPU_MFU = 0.4  # before any run has finished on a GPU, as `gpt-tui estimate` assumes


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
        return FormCheck(cfgmod.from_mapping(values, caps=caps))
    except cfgmod.ConfigError as e:
        problems: dict[str, list[str]] = defaultdict(list)
        for p in e.problems:
            problems[p.field].append(p.message)
        return FormCheck(None, dict(problems))


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
    """Achieved training FLOP/s, the median over finished runs on one device."""

    flops_per_s: float
    runs: int


def calibrate(store: st.Store, device_name: str) -> Calibration | None:
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
    cfg: cfgmod.RunConfig, vocab: int, device: Device | None, calibration: Calibration | None
) -> list[Line]:
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
    lines.append(_memory_line(e.memory.total, dtype, device))
    lines.append(_time_line(cfg, e, device, calibration))
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


def _time_line(cfg: cfgmod.RunConfig, e: est.Estimate, device: Device | None, calibration: Calibration | None) -> Line:
    if calibration is not None:
        rate = calibration.flops_per_s / e.flops_per_token
        runs = f"{calibration.runs} finished run{'s' if calibration.runs > 1 else ''}"
        return Line("time", est.human_seconds(e.seconds_at(rate)), f"at {rate:,.0f} tok/s, measured from {runs} here")
    if device is not None and device.peak_flops:
        rate = device.peak_flops * ASSUMED_GPU_MFU / e.flops_per_token
        return Line(
            "time",
            est.human_seconds(e.seconds_at(rate)),
            f"at {ASSUMED_GPU_MFU:.0%} MFU (no finished run here to measure from yet)",
        )
    return Line("time", "unknown", "no finished run on this device yet to measure speed from")
