"""A run's checkpoint at a worker's start: the newest that loads, or a fork's starting point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.train.recorder import RunRecorder, log


def restore_checkpoint(trainer: Any, ckpt_dir: Path, rec: RunRecorder | None = None) -> bool:
    """Restore the newest checkpoint that loads: last.pt, else best.pt (an earlier step; the
    records past it are dropped and trained again, the same as they were). A file that cannot be
    loaded (cut short, damaged) is skipped with a log line, and is replaced at the next eval; with
    none left the run starts over. Every rank of a DDP job sees the same files and decides alike.
    A fork with neither yet starts from fork.pt, its parent's checkpoint (its optimizer too, unless
    the status asks for a fresh one), and writes the step it starts at into its status.
    Returns whether the run resumed."""
    from engine.train import checkpoint  # torch: loaded by then, not for a refused worker

    for name in (checkpoint.LAST, checkpoint.BEST):
        path = ckpt_dir / name
        if not path.exists():
            continue
        try:
            payload = checkpoint.load(path, trainer.device)
        except Exception as e:
            log(f"checkpoint ckpt/{name} cannot be loaded ({type(e).__name__}: {first_line(e)}); skipping it")
            continue
        trainer.restore(payload)
        if name != checkpoint.LAST:
            log(f"falling back to ckpt/{name} (step {trainer.step})")
        return True
    if (ckpt_dir / checkpoint.FORK).exists():
        return start_fork(trainer, ckpt_dir / checkpoint.FORK, rec)
    if any((ckpt_dir / name).exists() for name in (checkpoint.LAST, checkpoint.BEST)):
        log("no checkpoint can be loaded: starting over from step 0")
    return False


def start_fork(trainer: Any, path: Path, rec: RunRecorder | None) -> bool:
    """Load a fork's starting checkpoint. One that does not load fails the run: starting over from
    step 0 would make a run that is no fork at all."""
    from engine.train import checkpoint  # torch: loaded by then, not for a refused worker

    try:
        payload = checkpoint.load(path, trainer.device)
    except Exception as e:
        raise RuntimeError(
            f"ckpt/{checkpoint.FORK}, the checkpoint this fork starts from, cannot be loaded "
            f"({type(e).__name__}: {first_line(e)}); fork the parent again"
        ) from None
    fresh = rec is not None and rec.status.fresh_optimizer
    trainer.restore(payload, optimizer=not fresh)
    if rec is not None:
        parent = rec.status.parent_name or rec.status.parent
        log(f"fork of {parent}: starting at its step {trainer.step}" + (" with a fresh optimizer" if fresh else ""))
        rec.write_status(parent_step=trainer.step)
    return True


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
