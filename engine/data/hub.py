"""Hugging Face datasets as documents: `hf:NAME[:CONFIG][@SPLIT]` and folders saved by save_to_disk.

The `datasets` library is imported only when one is read (it takes seconds). It uses its own cache
and honours HF_HOME, HF_DATASETS_CACHE and HF_HUB_OFFLINE; a dataset larger than the free memory is
streamed rather than converted in full. Offline and not cached, the error says where the cache is
and the command that fills it on a machine with a network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.data.corpus import DataError
from engine.data.records import missing_field, text_value

ROWS_PER_READ = 1000
TRUE = ("1", "on", "yes", "true")

Reader = Callable[[int], Iterator[tuple[int, str | None, int]]]


@dataclass(frozen=True)
class HubSpec:
    name: str
    config: str | None
    split: str

    @property
    def label(self) -> str:
        return f"hf:{self.name}{':' + self.config if self.config else ''}@{self.split}"

    @property
    def load_command(self) -> str:
        config = f", {self.config!r}" if self.config else ""
        return f'python -c "import datasets; datasets.load_dataset({self.name!r}{config}, split={self.split!r})"'


def parse_hub(dataset: str) -> HubSpec:
    body = dataset.removeprefix("hf:")
    name_config, at, split = body.rpartition("@")
    if not at:
        name_config, split = body, "train"
    name, _, config = name_config.partition(":")
    if not name.strip() or any(ch.isspace() for ch in name):
        raise DataError(f"{dataset!r}: write hf:NAME[:CONFIG][@SPLIT], e.g. hf:roneneldan/TinyStories@train")
    if (at and not split) or (":" in name_config and not config):
        raise DataError(f"{dataset!r}: an empty config or split; write hf:NAME[:CONFIG][@SPLIT]")
    return HubSpec(name, config or None, split)


def offline() -> bool:
    return any(os.environ.get(v, "").lower() in TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def cache_dirs() -> tuple[Path, Path]:
    """The datasets cache and the hub cache, as the libraries resolve them (without importing them)."""
    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    home = home.expanduser()
    datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE") or home / "datasets").expanduser()
    hub_cache = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or home / "hub")
    return datasets_cache, hub_cache.expanduser()


def looks_cached(spec: HubSpec) -> bool:
    """Whether either cache has a trace of the dataset: a cheap look, for checks at queue time."""
    if Path(spec.name).expanduser().exists():  # load_dataset reads a local folder of data files too
        return True
    datasets_cache, hub_cache = cache_dirs()
    if (hub_cache / f"datasets--{spec.name.replace('/', '--')}").is_dir():
        return True
    short = re.sub(r"[^a-z0-9]", "", spec.name.lower())
    try:
        return any(re.sub(r"[^a-z0-9]", "", d.name.lower()) == short for d in datasets_cache.iterdir())
    except OSError:
        return False


def not_cached_error(spec: HubSpec, why: str = "") -> DataError:
    datasets_cache, hub_cache = cache_dirs()
    return DataError(
        f"{spec.label} is not in the local cache ({datasets_cache}, {hub_cache}) and the hub cannot be "
        f"reached{' (HF_HUB_OFFLINE is set)' if offline() else ''}{': ' + why if why else ''}. On a machine "
        f"with a network run `{spec.load_command}` (or `huggingface-cli download --repo-type dataset "
        f"{spec.name}`), then copy its HF_HOME here or point HF_HOME at it"
    )


def hub_problem(dataset: str) -> str | None:
    try:
        spec = parse_hub(dataset)
        if offline() and not looks_cached(spec):
            raise not_cached_error(spec)
    except DataError as e:
        return str(e)
    return None


def hub_loader(dataset: str, text_field: str) -> tuple[HubSpec, Callable[[], tuple[int | None, Reader]]]:
    spec = parse_hub(dataset)

    def load() -> tuple[int | None, Reader]:
        if offline() and not looks_cached(spec):
            raise not_cached_error(spec)
        import datasets

        try:
            # The cache named explicitly: the library reads HF_DATASETS_CACHE once, when imported.
            builder = datasets.load_dataset_builder(spec.name, spec.config, cache_dir=str(cache_dirs()[0]))
            size = builder.info.dataset_size or builder.info.download_size or 0
            built = (Path(builder.cache_dir) / "dataset_info.json").is_file()
            if size > _free_memory() and not built:
                return None, _iterable_reader(builder.as_streaming_dataset(split=spec.split), text_field, spec.label)
            builder.download_and_prepare()
            ds = builder.as_dataset(split=spec.split)
        except (ConnectionError, FileNotFoundError) as e:
            raise not_cached_error(spec, f"{type(e).__name__}: {str(e)[:300]}") from None
        except ValueError as e:  # an unknown split or config, in the library's words
            raise DataError(f"{spec.label}: {str(e)[:500]}") from None
        return _table_reader(ds, text_field, spec.label)

    return spec, load


def _free_memory() -> int:
    import psutil

    return psutil.virtual_memory().available


# -- save_to_disk folders ---------------------------------------------------------------


def saved_fingerprint(path: Path) -> str:
    """Each state.json carries the library's fingerprint of the data; sizes and mtimes catch the rest."""
    h = hashlib.sha256(b"saved:")
    for p in sorted(path.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            h.update(f"{p.relative_to(path).as_posix()}:{st.st_size}:{st.st_mtime_ns}:".encode())
            if p.name in ("state.json", "dataset_dict.json"):
                h.update(p.read_bytes())
    return h.hexdigest()


def saved_split_dir(path: Path) -> Path:
    """A DatasetDict is read from its train split; a Dataset from the folder itself."""
    if not (path / "dataset_dict.json").is_file():
        return path
    try:
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(f"{path}/dataset_dict.json is not readable; save the dataset again") from None
    if "train" not in splits:
        raise DataError(f"{path} is a DatasetDict without a 'train' split (it has {splits}); save one split")
    return path / "train"


def saved_fields(path: Path) -> list[str]:
    """The column names a save_to_disk folder declares, read from dataset_info.json (no import)."""
    try:
        info = json.loads((saved_split_dir(path) / "dataset_info.json").read_text())
        return list(info["features"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(f"{path}: dataset_info.json is not readable; save the dataset again") from None


def saved_loader(path: Path, text_field: str) -> Callable[[], tuple[int | None, Reader]]:
    def load() -> tuple[int | None, Reader]:
        import datasets

        try:
            ds = datasets.load_from_disk(str(saved_split_dir(path)))
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not readable as a saved dataset ({str(e)[:300]})") from None
        return _table_reader(ds, text_field, str(path))

    return load


# -- reading rows -----------------------------------------------------------------------


def _check_field(columns: list[str] | None, text_field: str, label: str) -> None:
    if columns is not None and text_field not in columns:
        raise missing_field(label, text_field, columns)


def _table_reader(ds: Any, text_field: str, label: str) -> tuple[int | None, Reader]:
    """A memory-mapped Dataset: rows read a slice at a time; bytes estimated from its Arrow files."""
    _check_field(ds.column_names, text_field, label)
    column = ds.select_columns([text_field])
    rows = len(column)
    total = sum(os.path.getsize(f["filename"]) for f in ds.cache_files) or ds.info.dataset_size or None

    def read(start: int) -> Iterator[tuple[int, str | None, int]]:
        for first in range(start, rows, ROWS_PER_READ):
            texts = column[first : first + ROWS_PER_READ][text_field]
            for i, text in enumerate(texts, first):
                yield i, text_value(text, text_field, f"{label}, row {i}"), (total or 0) * (i + 1) // rows

    return total, read


def _iterable_reader(ds: Any, text_field: str, label: str) -> Reader:
    """A streamed dataset: its size is unknown, so the bytes counted are those of the text read."""
    _check_field(ds.column_names, text_field, label)

    def read(start: int) -> Iterator[tuple[int, str | None, int]]:
        done = 0
        for i, example in enumerate(ds.skip(start) if start else ds, start):
            if text_field not in example:
                _check_field(list(example), text_field, label)
            text = text_value(example[text_field], text_field, f"{label}, row {i}")
            done += len(text.encode("utf-8", errors="replace")) if text else 0
            yield i, text, done

    return read
