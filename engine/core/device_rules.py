"""The rules of RunConfig about where a run trains (device, dtype, GPUs), and how `auto` resolves."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.core.fields import DTYPES, DeviceCaps, Problem, RunConfig, suggest

Rule = tuple[tuple[str, ...], Callable[[RunConfig, DeviceCaps | None], Iterable[Problem]]]
DEVICE_RULES: list[Rule] = []


def rule_into(rules: list[Rule]) -> Callable[..., Callable]:
    """A decorator that adds a rule, with the fields it reads, to `rules`."""

    def rule(*names: str):
        def register(fn):
            rules.append((names, fn))
            return fn

        return register

    return rule


rule = rule_into(DEVICE_RULES)


@rule("dtype")
def _dtype(c, caps):
    if c.dtype not in DTYPES:
        yield Problem(
            "dtype", f"unknown dtype {c.dtype!r}; choose one of {', '.join(DTYPES)}" + suggest(c.dtype, DTYPES)
        )


def device_kind(device: str) -> str | None:
    if device in ("auto", "cpu", "cuda", "mps"):
        return device
    if device.startswith("cuda:") and device[5:].isascii() and device[5:].isdigit() and len(device) <= 9:
        return "cuda"
    return None


@rule("device")
def _device(c, caps):
    kind = device_kind(c.device)
    if kind is None:
        yield Problem("device", f"unknown device {c.device!r}; use auto, cpu, cuda, cuda:N or mps")
    elif caps is not None and kind == "cuda" and caps.cuda_count == 0:
        yield Problem("device", "no CUDA GPU on this machine; use device=auto or device=cpu")
    elif caps is not None and c.device.startswith("cuda:") and int(c.device[5:]) >= caps.cuda_count:
        yield Problem("device", f"{c.device} does not exist; this machine has {caps.cuda_count} GPU(s)")
    elif caps is not None and kind == "mps" and not caps.mps:
        yield Problem("device", "no Apple GPU (mps) on this machine; use device=auto or device=cpu")


@rule("dtype", "device")
def _dtype_on_device(c, caps):
    if caps is None or c.dtype not in DTYPES or device_kind(c.device) is None:
        return
    kind = resolved_device_kind(c, caps)
    if c.dtype == "bfloat16" and kind == "cuda" and not caps.cuda_bf16:
        yield Problem("dtype", "this GPU cannot do bfloat16; use dtype=float16 (with loss scaling) or auto")
    if c.dtype == "float16" and kind == "cpu":
        yield Problem("dtype", "float16 training needs a GPU; on CPU use float32 or bfloat16")


@rule("gpus", "device")
def _gpus(c, caps):
    if c.gpus > 1 and device_kind(c.device) == "mps":
        yield Problem("gpus", f"gpus={c.gpus} needs CUDA devices (or device=cpu for CPU processes)")
    elif caps is not None and c.gpus > 1 and caps.cuda_count and c.gpus > caps.cuda_count:
        yield Problem("gpus", f"gpus={c.gpus} but this machine has {caps.cuda_count} GPU(s)")


@rule("gpus", "gradient_accumulation_steps")
def _accumulation_splits(c, caps):
    if c.gpus > 1 and c.gradient_accumulation_steps % c.gpus:
        yield Problem(
            "gradient_accumulation_steps",
            f"{c.gradient_accumulation_steps} micro-batches cannot be split evenly over gpus={c.gpus}; "
            f"use a multiple of {c.gpus}, e.g. {c.gpus * max(1, round(c.gradient_accumulation_steps / c.gpus))}",
        )


def resolved_device_kind(c: RunConfig, caps: DeviceCaps) -> str:
    kind = device_kind(c.device) or "cpu"
    if kind == "auto":
        return "cuda" if caps.cuda_count else "mps" if caps.mps else "cpu"
    return kind


def resolved_dtype(c: RunConfig, caps: DeviceCaps) -> str:
    """The dtype a run will use once `auto` is settled on the machine that trains it."""
    if c.dtype != "auto":
        return c.dtype
    kind = resolved_device_kind(c, caps)
    if kind == "cuda":
        return "bfloat16" if caps.cuda_bf16 else "float16"
    return "float32"
