"""Writing a report: report.md beside its PNG figures in one folder. Imports matplotlib (through
engine.reports.figures): the CLI and the app import this module only when a report is asked for."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.reports import figures
from engine.reports.data import ReportData
from engine.store.files import write_atomic
from engine.sweeps.report import importance_text

REPORT = "report.md"


@dataclass(frozen=True)
class Written:
    folder: Path
    files: list[Path]  # report.md first, then each figure

    @property
    def report(self) -> Path:
        return self.files[0]


def default_folder(store_root: Path, data: ReportData) -> Path:
    """Where a report goes when no folder is given: the store's reports/<sweep or first run>."""
    return Path(store_root) / "reports" / data.name


def write_report(data: ReportData, folder: Path) -> Written:
    """Draw every figure the data allows and write report.md naming them; OSError when the folder
    cannot be made or written (the caller says so in a person's words)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):  # say so before drawing anything
        raise PermissionError(13, "Permission denied", str(folder))
    drawn: dict[str, str] = {}  # file name -> what it shows
    for by in ("step", "tokens"):
        _save(folder, drawn, f"val_loss_by_{by}.png", f"val loss by {by}", figures.loss_figure(data.curves, by))
    for p in data.points:
        _save(folder, drawn, f"ppl_by_{_file_part(p.name)}.png", f"final val PPL by {p.name}", figures.ppl_figure(p))
    _save(
        folder, drawn, "importance.png", "how much each parameter mattered", figures.importance_figure(data.importance)
    )
    path = folder / REPORT
    write_atomic(path, markdown(data, drawn), durable=False)
    return Written(folder, [path, *(folder / name for name in drawn)])


def _save(folder: Path, drawn: dict[str, str], name: str, what: str, fig) -> None:
    if fig is not None:
        figures.save_png(fig, folder / name)
        drawn[name] = what


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", name)[:60] or "-"


def markdown(data: ReportData, drawn: dict[str, str]) -> str:
    """report.md: the figures in order, each section saying why when it has none, then the table."""
    out = [f"# {_md(data.title)}", "", _md(data.summary), ""]
    out += ["## Val loss", ""]
    curves = [n for n in drawn if n.startswith("val_loss_by_")]
    out += [f"![{drawn[n]}]({n})\n" for n in curves] or ["No run has an evaluation yet: no curve to draw.\n"]
    if data.no_evals:
        out += ["No evaluation yet, so no curve:", "", *(f"- {_md(n)}" for n in data.no_evals), ""]
    if curves and len(data.curves) > figures.LEGEND_MAX:
        out += [f"{len(data.curves)} curves: too many to name in a legend; the best is drawn thicker.", ""]
    out += ["## Final val PPL by hyperparameter", ""]
    ppl = [n for n in drawn if n.startswith("ppl_by_")]
    out += [f"![{drawn[n]}]({n})\n" for n in ppl] or [
        "Nothing to draw yet: it needs finished runs whose values of a hyperparameter differ.\n"
    ]
    for p in data.points:
        if p.left_out:
            out += [f"{p.left_out} finished run(s) left out of {p.name}: a value or PPL that is not a number.", ""]
    out += ["## How much each parameter mattered", ""]
    if "importance.png" in drawn:
        out += ["![how much each parameter mattered](importance.png)", ""]
    out += [importance_text(data.importance), "", "## Trial table", "", data.table_md.rstrip("\n")]
    if data.notes:
        out += ["", "## Left out", "", *(f"- {_md(n)}" for n in data.notes)]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    """Stored text in Markdown prose: no table breaks, no inline HTML."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
