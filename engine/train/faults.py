"""Fault injection for tests and drills, read from the environment by the worker.

GPT_TUI_FAULT="oom@STEP" or "error@STEP" raises at that step; GPT_TUI_FSIZE_LIMIT="BYTES" caps
every file the worker writes at that size, as if the disk filled up. Either takes ":key=value" to
apply only to runs whose config has that value ("oom@5:batch_size=8", "120000:seed=5").
"""

from __future__ import annotations

import os

from engine.core import config as cfgmod

FAULT_ENV = "GPT_TUI_FAULT"
FSIZE_ENV = "GPT_TUI_FSIZE_LIMIT"


def _applies(condition: str, cfg: cfgmod.RunConfig) -> bool:
    """A fault's optional `key=value` condition on the run's config ("" always applies)."""
    if not condition:
        return True
    key, _, value = condition.partition("=")
    return str(getattr(cfg, key.strip(), None)) == value.strip()


def inject_fault(step: int, cfg: cfgmod.RunConfig) -> None:
    """GPT_TUI_FAULT="oom@5" raises at step 5; "oom@5:batch_size=8" only while batch_size is 8."""
    spec = os.environ.get(FAULT_ENV, "")
    head, _, condition = spec.partition(":")
    kind, _, at = head.partition("@")
    if not at.isdigit() or int(at) != step or not _applies(condition, cfg):
        return
    import torch

    if kind == "oom":
        raise torch.OutOfMemoryError(f"injected out-of-memory at step {step} ({FAULT_ENV})")
    if kind == "error":
        raise RuntimeError(f"injected failure at step {step} ({FAULT_ENV})")


def limit_file_size(cfg: cfgmod.RunConfig) -> None:
    """GPT_TUI_FSIZE_LIMIT="BYTES[:key=value]": from here on no file this process writes may grow
    past BYTES (RLIMIT_FSIZE). The worker ignores SIGXFSZ, so such a write fails with EFBIG."""
    size, _, condition = os.environ.get(FSIZE_ENV, "").partition(":")
    if size.isdigit() and _applies(condition, cfg):
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (int(size), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
