"""Tokenizing units of text in parallel, in order, while this thread reads the next unit and writes
the last one's tokens. A tiktoken encoding is run in worker processes: its encoder frees the GIL,
but two threads of it reach 1.5x one thread on 2 cores where two processes reach 2x
(benchmarks/prepare_bench.py). char and byte run in threads (numpy's array work frees the GIL).

Documents each end with a separator: the encoding's end-of-text token for tiktoken (<|endoftext|>),
and a blank line ("\\n\\n", as between a folder's files) for char and byte, which have no such
token. Plain text gets none: it is tokenized chunk by chunk exactly as before.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np

from engine.data.sources import Unit
from engine.data.tokenize import TiktokenTokenizer, Tokenizer, get_tokenizer

TEXT_SEPARATOR = "\n\n"
LOOKAHEAD = 2  # units being tokenized while the current one is written: bounds memory
SLICES_PER_WORKER = 2  # a unit is cut into this many pieces per thread, so no thread idles long


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def separator_name(tok: Tokenizer) -> str:
    if isinstance(tok, TiktokenTokenizer):
        return "<|endoftext|>" if _eot(tok) is not None else "none"
    return repr(TEXT_SEPARATOR)


def _eot(tok: TiktokenTokenizer) -> int | None:
    try:
        return tok.encoding.eot_token
    except (KeyError, AttributeError):  # an encoding without <|endoftext|>
        return None


class Encoder:
    """Tokens of a list of texts as one array of `dtype`; `documents` puts a separator after each."""

    def __init__(self, tok: Tokenizer, dtype: np.dtype, documents: bool) -> None:
        self.tok, self.dtype, self.documents = tok, np.dtype(dtype), documents
        self.eot = _eot(tok) if isinstance(tok, TiktokenTokenizer) else None

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=self.dtype)
        if not isinstance(self.tok, TiktokenTokenizer):  # char and byte work on characters: join them
            sep = TEXT_SEPARATOR if self.documents else ""
            return self.tok.encode_array(sep.join(texts) + sep, dtype=self.dtype.name)
        parts: list[np.ndarray] = []
        eot = np.array([self.eot], dtype=self.dtype) if self.documents and self.eot is not None else None
        for text in texts:
            parts.append(_tiktoken_array(self.tok.encoding, text).astype(self.dtype, copy=False))
            if eot is not None:
                parts.append(eot)
        return np.concatenate(parts)


def _tiktoken_array(encoding, text: str) -> np.ndarray:
    """encode_ordinary as a numpy array: no Python int per token, and the GIL free while it runs.
    With no special token allowed, encode equals encode_ordinary (special-token text stays text)."""
    try:
        return encoding.encode_to_numpy(text, allowed_special=set(), disallowed_special=())
    except UnicodeEncodeError:  # a lone surrogate (from a JSON escape): as tiktoken's encode_ordinary does
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return encoding.encode_to_numpy(text, allowed_special=set(), disallowed_special=())


def _slices(texts: list[str], count: int) -> list[list[str]]:
    """`texts` in order, cut into at most `count` runs of about equal characters."""
    if count <= 1 or len(texts) <= 1:
        return [texts]
    target = sum(map(len, texts)) / count
    out: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if size >= target and len(out) < count:
            out.append([])
            size = 0
        out[-1].append(text)
        size += len(text)
    return out


_PROCESS_ENCODER: Encoder | None = None  # a worker process's own, made once by _start_process


def _start_process(tokenizer: str, dtype: str, documents: bool) -> None:
    global _PROCESS_ENCODER
    _PROCESS_ENCODER = Encoder(get_tokenizer(tokenizer), np.dtype(dtype), documents)


def _encode_in_process(texts: list[str]) -> np.ndarray:
    assert _PROCESS_ENCODER is not None, "the pool's initializer makes the encoder"
    return _PROCESS_ENCODER(texts)


def _pool(encoder: Encoder, workers: int) -> tuple[Executor, Callable[[list[str]], np.ndarray]]:
    """Processes for a tiktoken encoding on more than one core (spawned: this process may hold
    threads), else threads; with the function that encodes a piece of text there."""
    if workers > 1 and isinstance(encoder.tok, TiktokenTokenizer):
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_process,
            initargs=(encoder.tok.name, encoder.dtype.name, encoder.documents),
        )
        return pool, _encode_in_process
    return ThreadPoolExecutor(max(1, workers), thread_name_prefix="tokenize"), encoder


def encoded_units(
    units: Iterator[Unit], encoder: Encoder, workers: int, is_val: Callable[[int], bool]
) -> Iterator[tuple[Unit, np.ndarray, np.ndarray]]:
    """Each unit with its train and val tokens, in the units' order. Plain text is all "train" here
    (its val split is cut from the end later); a document goes where `is_val(its index)` says."""
    pieces = max(1, workers * SLICES_PER_WORKER)
    pool, encode = _pool(encoder, workers)
    with pool:

        def submit(texts: list[str]) -> list[Future]:
            return [pool.submit(encode, s) for s in _slices(texts, pieces) if s]

        pending: deque[tuple[Unit, list[Future], list[Future]]] = deque()
        for unit in units:
            if unit.indices is None:
                train, val = unit.texts, []
            else:
                flags = [is_val(i) for i in unit.indices]
                train = [t for t, v in zip(unit.texts, flags) if not v]
                val = [t for t, v in zip(unit.texts, flags) if v]
            pending.append((unit, submit(train), submit(val)))
            if len(pending) > LOOKAHEAD:
                yield _collect(pending.popleft(), encoder.dtype)
        while pending:
            yield _collect(pending.popleft(), encoder.dtype)


def _collect(item: tuple[Unit, list[Future], list[Future]], dtype: np.dtype) -> tuple[Unit, np.ndarray, np.ndarray]:
    unit, train, val = item

    def join(futures: list[Future]) -> np.ndarray:
        arrays = [f.result() for f in futures]
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    return unit, join(train), join(val)
