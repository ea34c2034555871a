"""The trial table written out: Markdown for a note, CSV for a spreadsheet, JSON for a program. Every
column, a swept hyperparameter's too; the best run marked in Markdown. Light."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from engine.store.columns import columns_for, swept_keys
from engine.store.row import ROW_FIELDS, Row
from engine.store.table import best_run


def to_markdown(items: list[Row]) -> str:
    cols = [c for c in columns_for(items, "cli") if c.key != "run"]
    titles = ["run", *(c.title for c in cols)]
    best = best_run(items)
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for r in items:
        row = [f"**{r.run}** (best)" if r.run == best else r.run, *(c.text(r) for c in cols)]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |")
    return "\n".join(lines) + "\n"


def records(items: list[Row]) -> tuple[list[str], list[dict[str, Any]]]:
    """The field names, and a mapping per run: the row's fields, then each swept hyperparameter."""
    swept = [name for name in swept_keys(items) if name not in ROW_FIELDS]
    return [*ROW_FIELDS, *swept], [{**r.as_dict(), **{n: r.hyperparameter(n) for n in swept}} for r in items]


def to_csv(items: list[Row]) -> str:
    names, out = records(items)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    writer.writerows(out)
    return buf.getvalue()


def to_json(items: list[Row]) -> str:
    """A list of objects; a number JSON cannot hold (inf, nan: a hand edit, a diverged run) is null."""
    _, out = records(items)
    clean = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()} for r in out]
    return json.dumps(clean, indent=2, ensure_ascii=False) + "\n"
