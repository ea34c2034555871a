"""The prepared datasets as data: each folder under datasets/ with its tokens, size, tokenizer, source
and the runs that use it; deleting one that no live run uses; queueing a preparation as an engine
job. No Textual; the store reads are for worker threads and the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text

from engine.core import config as cfgmod
from engine.core.errors import GptTuiError
from engine.core.text import printable
from engine.core.units import shown_bytes, shown_count
from engine.store import control
from engine.store import runs as st
from engine.store.run_files import read_config
from engine.store.schema import ACTIVE, KIND_PREPARE

PREPARE_PREFIX = "prepare-"  # a preparation's run name: prepare-<the dataset's base name>


class DatasetInUse(GptTuiError):
    """A prepared dataset a queued or running run needs: deleting it is refused, naming the runs."""


@dataclass(frozen=True)
class DatasetInfo:
    """One prepared dataset: its folder's name, what meta.toml says of it, and who uses it."""

    name: str
    tokens: int | None
    train_tokens: int | None
    size_bytes: int
    tokenizer: str
    source: str
    active_users: tuple[str, ...] = ()  # queued or running runs that train on it (names or ids)
    ended_users: int = 0  # ended runs that trained on it (a resume prepares it again)
    problem: str = ""  # why the folder cannot be used (a run prepares it again); "" when it can

    @property
    def used_by(self) -> int:
        return len(self.active_users) + self.ended_users

    def cells(self) -> dict[str, str]:
        """What the table and `gpt-tui datasets` show, every stored string made safe to print."""
        used = "-" if not self.used_by else f"{self.used_by} run{'s' if self.used_by > 1 else ''}"
        if self.active_users:
            used += f" ({len(self.active_users)} live)"
        return {
            "name": printable(self.name),
            "tokens": shown_count(self.tokens),
            "size": shown_bytes(self.size_bytes),
            "tokenizer": printable(self.tokenizer) or "-",
            "source": f"broken: {printable(self.problem)}" if self.problem else printable(self.source) or "-",
            "used": used,
        }


COLUMNS = (("name", "name"), ("tokens", "tokens"), ("size", "size"), ("tokenizer", "tokenizer"))
COLUMNS += (("source", "source"), ("used", "used by"))
NUMERIC = frozenset({"tokens", "size"})


def cell_texts(info: DatasetInfo) -> list[Text]:
    """A row's cells in COLUMNS order, as Text: a stored name or path is never read as markup."""
    cells = info.cells()
    return [Text(cells[key], justify="right" if key in NUMERIC else "left") for key, _ in COLUMNS]


def _size(prepared: Any) -> int:
    try:
        return prepared.size_bytes()
    except OSError:  # deleted while listed
        return 0


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _same_source(config_value: Any, meta_value: Any) -> bool:
    """Whether a config's dataset names the source meta.toml recorded: the same text, or the same
    file or folder written another way (relative, with a trailing slash)."""
    if not isinstance(config_value, str) or not isinstance(meta_value, str) or not config_value:
        return False
    if config_value.strip() == meta_value.strip():
        return True
    if ":" in config_value.split("/", 1)[0]:  # hf:NAME and the like: the text is the name
        return False
    return os.path.abspath(os.path.expanduser(config_value)) == os.path.abspath(os.path.expanduser(meta_value))


def config_uses(cfg: Mapping[str, Any], name: str, meta: Mapping[str, Any]) -> bool:
    """Whether a run's config (as read from its config.toml) trains on the prepared dataset `name`:
    its dataset is the one meta.toml names, with its tokenizer (and text field), or the folder itself."""
    dataset = cfg.get("dataset")
    if isinstance(dataset, str) and os.path.basename(os.path.normpath(dataset)) == name and os.sep in dataset:
        return True
    sources = [meta.get(key) for key in ("dataset", "source") if isinstance(meta.get(key), str)]
    if not any(_same_source(dataset, s) for s in sources):
        return False
    if cfg.get("tokenizer", cfgmod.DEFAULTS.tokenizer) != meta.get("tokenizer"):
        return False
    recorded = meta.get("text_field")
    return recorded is None or cfg.get("text_field", "text") == recorded


def _prepared(datasets_dir: Path) -> list[Any]:
    from engine.data import prepare as data  # numpy: loaded when the datasets are first asked for

    if not datasets_dir.is_dir():
        return []
    return list(data.list_prepared(datasets_dir))


def list_datasets(store: st.Store) -> list[DatasetInfo]:
    """Every prepared dataset of the store, by name, with the runs that use it."""
    prepared = _prepared(store.datasets_dir)
    runs = _runs(store)
    out = []
    for p in prepared:
        meta = dict(p.meta)
        name = p.dir.name
        active, ended = [], 0
        for run_id, status, cfg in runs:
            if status.kind == KIND_PREPARE and status.state not in ACTIVE:
                continue  # a done preparation made it; it does not train on it
            if status.dataset_dir == name or config_uses(cfg, name, meta):
                if status.state in ACTIVE:
                    active.append(status.name or run_id)
                else:
                    ended += 1
        out.append(
            DatasetInfo(
                name=name,
                tokens=_int(meta.get("tokens")),
                train_tokens=_int(meta.get("train_tokens")),
                size_bytes=_size(p),
                tokenizer=str(meta.get("tokenizer", "")),
                source=str(meta.get("source") or meta.get("dataset") or ""),
                active_users=tuple(active),
                ended_users=ended,
                problem=p.problem or "",
            )
        )
    return sorted(out, key=lambda d: d.name)


def _runs(store: st.Store) -> list[tuple[str, st.Status, dict[str, Any]]]:
    out = []
    for run_id, status in store.statuses().items():
        if not isinstance(status, st.Status):
            continue  # a broken run names nothing this can read
        out.append((run_id, status, read_config(store, run_id)))  # {} when unreadable: it names nothing
    return out


def find_dataset(infos: Iterable[DatasetInfo], name: str) -> DatasetInfo:
    by_name = {d.name: d for d in infos}
    if name in by_name:
        return by_name[name]
    known = ", ".join(by_name) or "none yet"
    raise GptTuiError(f"no prepared dataset {name!r}{cfgmod.suggest(name, by_name)} (prepared: {known})")


def delete_dataset(store: st.Store, name: str) -> str:
    """Delete a prepared dataset no queued or running run uses; DatasetInUse names the runs that do."""
    from engine.data import prepare as data

    info = find_dataset(list_datasets(store), name)
    if info.active_users:
        runs = ", ".join(printable(r) for r in info.active_users)
        them = "them" if len(info.active_users) > 1 else "it"
        raise DatasetInUse(f"{name} is used by {runs}; stop or cancel {them} first, then delete it")
    data.delete_prepared(store.datasets_dir, name)
    freed = f"{shown_bytes(info.size_bytes)} freed"
    again = (
        f"; {info.ended_users} ended run(s) trained on it: resuming one prepares it again" if info.ended_users else ""
    )
    return f"deleted {name} ({freed}){again}"


def prepare_name(dataset: str) -> str:
    """prepare-<the dataset's base name>: the run's name, part of its id."""
    base = dataset.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0] or "dataset"
    if dataset.startswith("hf:"):
        base = dataset[3:].split(":", 1)[0].split("@", 1)[0].rsplit("/", 1)[-1] or "hf"
    base = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in base.rsplit(".", 1)[0] or base)
    return f"{PREPARE_PREFIX}{base[:40].strip('-') or 'dataset'}"


def submit_prepare(store: st.Store, cfg: cfgmod.RunConfig, name: str | None = None, source: str = "app") -> str:
    """A run of kind prepare for `cfg`'s dataset and tokenizer, queued for the engine; its id."""
    return control.submit(store, cfg, name or prepare_name(cfg.dataset), source=source, kind=KIND_PREPARE)
