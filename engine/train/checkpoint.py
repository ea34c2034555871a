"""Checkpoints: the whole loop state in one file, written atomically, loaded without pickle code."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.errors import GptTuiError
from engine.store.ckpt_files import FORK, kept_name, link_or_copy, write_index  # noqa: F401 - checkpoint.FORK

LAST, BEST = "last.pt", "best.pt"


def keep(ckpt_dir: Path, step: int) -> None:
    """Keep last.pt, just saved at `step`, as step-<step>.pt for forks: a hard link costs no space
    until last.pt is replaced (never rewritten in place), and survives that."""
    link_or_copy(ckpt_dir / LAST, ckpt_dir / kept_name(step))


def saved(ckpt_dir: Path, names: tuple[str, ...], step: int) -> None:
    """Tell the index (read without torch, by a fork) which checkpoints now hold `step`."""
    write_index(ckpt_dir, names, step)


def rng_state() -> dict[str, Any]:
    """Every random state of the process. The data order needs none: each micro-batch is drawn
    from (seed, step, micro), so the step alone is the data position."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_global_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_global_state() -> tuple:
    # The legacy state holds an ndarray; as a tensor it loads under weights_only=True.
    kind, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return kind, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss)


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Writes:
    """A file torch.save writes through, keeping the OSError of a failed write: torch reports a
    full disk only as "unexpected pos", and the worker must say the disk is full."""

    def __init__(self, file: Any) -> None:
        self.file, self.error = file, None

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.file.flush()


def save(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temp file, fsync, then os.replace: a reader never sees half a checkpoint.
    A failed write (a full disk) removes the temp file and raises its OSError, naming `path`."""
    path.parent.mkdir(exist_ok=True)  # ckpt/ only: a run folder deleted under the worker is never made again
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            writes = _Writes(f)
            try:
                torch.save(payload, writes)
            except RuntimeError:
                if writes.error is None:
                    raise
                raise writes.error from None
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CheckpointRefused(GptTuiError):
    """A checkpoint that holds more than tensors and plain data: it is never loaded."""


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with weights_only=True: a checkpoint can hold tensors and plain data, never code."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        # torch's own message goes on to suggest weights_only=False, which would run the file's
        # code; a checkpoint that needs it is refused, never loaded that way.
        if type(e).__name__ == "UnpicklingError":
            raise CheckpointRefused(
                f"{Path(path).name} holds more than tensors and plain data, so it is refused (checkpoints are "
                "loaded as data only, never as code); delete it, or put back a copy you trust"
            ) from None
        raise


def strip_compile_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prefix = "_orig_mod."
    return {k.removeprefix(prefix): v for k, v in state_dict.items()}
