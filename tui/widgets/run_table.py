"""The runs table: one row per run, updated cell by cell as runs change, sorted and filtered."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from engine.store.table import best_run
from tui.models.runs_view import COLUMNS, NUMERIC, Row, RunFilter, cells, sort_order


class _Keyed(Text):
    """The mark cell, which knows its run: DataTable.sort hands a key function cells, not rows."""

    def __init__(self, text: Text, run_id: str) -> None:
        super().__init__(text.plain, style=text.style)
        self.run_id = run_id


def _signature(value: Any) -> Any:
    if isinstance(value, Text):
        return value.plain, str(value.style), tuple(value.spans)
    return value


class RunTable(DataTable):
    """Rows keyed by run id. `show_rows` adds, removes and updates only what changed."""

    BINDINGS = [
        Binding("home", "first_run", "first run", show=False),
        Binding("end", "last_run", "last run", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=3, **kwargs)
        self.rows_by_id: dict[str, Row] = {}
        self.selected: set[str] = set()
        self.filter = RunFilter()
        self.order: tuple[str, bool] | None = None  # (column key, descending); None: newest first
        self.best: str | None = None
        self._shown: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for col in COLUMNS:
            title = Text(col.title, justify="right" if col.key in NUMERIC else "left")
            self.add_column(title, key=col.key, width=col.width)

    # -- what is shown -----------------------------------------------------------------
    @property
    def shown_ids(self) -> list[str]:
        return [self.coordinate_to_cell_key((i, 0)).row_key.value for i in range(self.row_count)]

    @property
    def current_id(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    def show_rows(self, rows: dict[str, Row]) -> None:
        """Bring the table in line with `rows`: changed cells only; order kept unless rows came."""
        self.rows_by_id = rows
        self.best = best_run(list(rows.values()))
        self.selected &= rows.keys()
        wanted = {run_id for run_id, r in rows.items() if self.filter.keeps(r)}
        for gone in self._shown.keys() - wanted:
            self.remove_row(gone)
            del self._shown[gone]
        first = not self._shown
        added = False
        for run_id in wanted:
            new = cells(rows[run_id], best=run_id == self.best, selected=run_id in self.selected)
            new["mark"] = _Keyed(new["mark"], run_id)
            old = self._shown.get(run_id)
            if old is None:
                self.add_row(*new.values(), key=run_id)
                added = True
            else:
                for key, value in new.items():
                    if _signature(value) != _signature(old[key]):
                        self.update_cell(run_id, key, value, update_width=key not in ("name", "note"))
            self._shown[run_id] = new
        if added:
            self.apply_order(keep_cursor=not first)

    def apply_order(self, keep_cursor: bool = True) -> None:
        """Sort the rows shown by `self.order`, keeping the cursor on the same run."""
        current = self.current_id if keep_cursor else None
        shown = [self.rows_by_id[i] for i in self._shown]
        if self.order is None:
            ids = sorted(self._shown, reverse=True)  # ids begin with their creation time
        else:
            ids = sort_order(shown, *self.order)
        rank = {run_id: i for i, run_id in enumerate(ids)}
        self.sort("mark", key=lambda cell: rank[cell.run_id])
        self.move_cursor(row=rank.get(current, 0), animate=False)

    def set_filter(self, run_filter: RunFilter) -> None:
        self.filter = run_filter
        self.show_rows(self.rows_by_id)
        self.apply_order()

    def sort_by(self, key: str) -> None:
        """Sort by column `key`; the same column again flips the direction."""
        if self.order is not None and self.order[0] == key:
            self.order = (key, not self.order[1])
        else:
            self.order = (key, False)
        self.apply_order()

    def action_first_run(self) -> None:
        self.move_cursor(row=0)

    def action_last_run(self) -> None:
        self.move_cursor(row=self.row_count - 1)

    def toggle_selected(self, run_id: str) -> None:
        self.selected ^= {run_id}
        self.show_rows(self.rows_by_id)
