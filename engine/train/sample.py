"""Text from a run's checkpoint, streamed token by token: `python -m engine.train.sample RUN_DIR`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.core import config as cfgmod
from engine.core.errors import GptTuiError
from engine.store import runs as st

# A sampler shares the machine with training (the engine's worker uses every core by default): it
# runs niced, on a few threads, so that training keeps the CPU and neither thrashes the other's cores.
NICE = 5
MAX_THREADS = 4


def default_threads() -> int:
    """A quarter of the cores this process may use, from 1 to MAX_THREADS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores // 4))


def yield_to_training(threads: int | None = None, nice: int = NICE) -> int:
    """Lower this process's priority by `nice` and cap torch's threads; returns the thread count.
    Called before torch is imported (seconds of CPU on a busy machine), so the import yields too."""
    if nice > 0:
        try:
            os.nice(nice)
        except OSError:  # a platform or sandbox that refuses: sampling works the same, only greedier
            pass
    import torch

    count = threads or default_threads()
    torch.set_num_threads(count)
    return count


class SampleError(GptTuiError):
    """Why a run cannot be sampled, in words a person can act on."""


def load_for_sampling(run_dir: Path, which: str = "best"):
    import torch

    from engine.data import prepare as data
    from engine.train import checkpoint
    from engine.train.model import GPT
    from engine.train.trainer import pick_device

    ckpt_dir = run_dir / "ckpt"
    path = ckpt_dir / (checkpoint.BEST if which == "best" else checkpoint.LAST)
    if not path.exists() and which == "best":
        path = ckpt_dir / checkpoint.LAST
    if not path.exists():
        raise SampleError(
            f"run {run_dir.name} has no checkpoint yet; it is written at the first "
            "evaluation (step 0) - wait for it or check `worker.log`"
        )
    try:
        payload = checkpoint.load(path)
    except Exception as e:  # a truncated or foreign file
        raise SampleError(f"cannot load {path}: {e}; the file is damaged - try --checkpoint last") from None
    cfg = cfgmod.from_mapping(payload["config"])
    prepared = data.prepare(cfg.dataset, cfg.tokenizer, Path(run_dir).parent / "datasets", text_field=cfg.text_field)
    model = GPT(cfg, int(payload["vocab_size"]))
    model.load_state_dict(payload["model"])
    device = pick_device(cfg.replace(device="cpu") if cfg.device == "auto" and not torch.cuda.is_available() else cfg)
    model.to(device).eval()
    return model, prepared.tokenizer(), device, int(payload["step"])


def stream_sample(
    run_dir: Path,
    prompt: str,
    tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int,
    which: str = "best",
    out=sys.stdout,
) -> None:
    import torch

    from engine.data.tokenize import StreamDecoder

    model, tok, device, step = load_for_sampling(run_dir, which)
    torch.manual_seed(seed)
    ids = tok.encode(prompt, errors="replace") if prompt else []
    if not ids:
        ids = [0]
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    decoder = StreamDecoder(tok)
    out.write(prompt)
    out.flush()
    for token in model.stream(idx, tokens, temperature=temperature, top_k=top_k):
        out.write(decoder.push([int(token)]))
        out.flush()
    out.write(decoder.flush() + "\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.train.sample", description=__doc__)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--prompt", default="")
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=200)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: a quarter of the cores, at most 4)")
    p.add_argument("--nice", type=int, default=NICE, help="how far to yield the CPU to training (0: not at all)")
    a = p.parse_args(argv)
    problems = []
    if a.tokens < 1:
        problems.append(f"--tokens must be at least 1, got {a.tokens}")
    if not (a.temperature >= 0):
        problems.append(f"--temperature must be 0 (greedy) or more, got {a.temperature}")
    if a.top_k is not None and a.top_k < 1:
        problems.append(f"--top-k must be at least 1, got {a.top_k}")
    if a.threads < 0 or not 0 <= a.nice <= 19:
        problems.append(f"--threads must be 0 or more and --nice from 0 to 19, got {a.threads} and {a.nice}")
    try:
        st.check_run_id(a.run_dir.name)
    except st.StoreError as e:
        problems.append(str(e))
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    yield_to_training(a.threads, a.nice)
    try:
        stream_sample(a.run_dir, a.prompt, a.tokens, a.temperature, a.top_k, a.seed, a.checkpoint)
    except (SampleError, cfgmod.ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
