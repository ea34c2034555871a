"""The runs table: one row per run, updated cell by cell as runs change, sorted and filtered. Its
columns are the ones that fit, each whole, taken by priority; left and right move them a column at a time."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from engine.store.columns import fit
from engine.store.table import best_run
from tui.models.runs_view import COLUMNS, Column, Row, RunFilter, cells, columns_for, sort_order


class _Keyed(Text):
    """The mark cell, which knows its run: DataTable.sort hands a key function cells, not rows."""

    def __init__(self, text: Text, run_id: str) -> None:
        super().__init__(text.plain, style=text.style)
        self.run_id = run_id


def _signature(value: Any) -> Any:
    if isinstance(value, Text):
        return value.plain, str(value.style), tuple(value.spans)
    return value


def _spec(columns: list[Column]) -> list[tuple[str, int, int]]:
    return [(c.key, c.width, c.priority) for c in columns]


class RunTable(DataTable):
    """Rows keyed by run id. `show_rows` adds, removes and updates only what changed."""

    BINDINGS = [
        Binding("home", "first_run", "first run", show=False),
        Binding("end", "last_run", "last run", show=False),
        Binding("left", "cursor_left", "columns", show=False, tooltip="the columns, one at a time"),
        Binding("right", "cursor_right", "columns", show=False, tooltip="the columns, one at a time"),
    ]

    class ColumnsShown(Message):
        """The columns shown changed: the window moved, or the table was resized."""

        def __init__(self, table: RunTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> RunTable:
            return self.table

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, fixed_columns=3, **kwargs)
        self.rows_by_id: dict[str, Row] = {}
        self.selected: set[str] = set()
        self.filter = RunFilter()
        self.order: tuple[str, bool] | None = None  # (column key, descending); None: newest first
        self.best: str | None = None
        self.all_columns: list[Column] = list(COLUMNS)  # every column these rows have, shown or not
        self.first_column = 0  # how many of the columns that may go are scrolled off to the left
        self.column_layout: list[tuple[Column, int]] = []  # what is shown, with widths
        self._shown: dict[str, dict[str, Any]] = {}  # every cell of each row shown, by column key

    def on_mount(self) -> None:
        self.relayout()

    def on_resize(self, _: events.Resize) -> None:
        self.relayout()

    # -- which columns -----------------------------------------------------------------
    @property
    def shown_keys(self) -> list[str]:
        return [col.key for col, _ in self.column_layout]

    def _movable(self) -> list[Column]:
        return [c for c in self.all_columns if c.priority > 0]

    def hidden_columns(self) -> tuple[int, int]:
        """How many columns are off to the left (scrolled past) and to the right (no room)."""
        shown = set(self.shown_keys)
        return self.first_column, sum(c.key not in shown for c in self._movable()[self.first_column :])

    def relayout(self, cursor: str | None = None) -> None:
        """Show the columns that fit now, each whole; build the table again only when they changed.
        The cursor stays on its run (or goes to `cursor`)."""
        room = self.scrollable_content_region.width or self.app.size.width - 1  # not laid out yet
        if room <= 0:
            return
        movable = self._movable()
        self.first_column = max(0, min(self.first_column, len(movable) - 1))
        window = [c for c in self.all_columns if c.priority <= 0] + movable[self.first_column :]
        window.sort(key=self.all_columns.index)
        layout = fit(window, room, 2 * self.cell_padding)
        if [(c.key, w) for c, w in layout] == [(c.key, w) for c, w in self.column_layout]:
            return
        cursor = cursor or self.current_id
        self.column_layout = layout
        self.clear(columns=True)
        for col, width in layout:
            self.add_column(Text(col.title, justify="right" if col.numeric else "left"), key=col.key, width=width)
        for run_id, row in self._shown.items():
            self.add_row(*(row[key] for key in self.shown_keys), key=run_id)
        if self._shown:
            self.apply_order(keep_cursor=False, cursor=cursor)
        self.post_message(self.ColumnsShown(self))

    def action_cursor_right(self) -> None:
        """The next column in from the right, the leftmost movable one out: a column at a time."""
        if self.hidden_columns()[1]:
            self.first_column += 1
            self.relayout()

    def action_cursor_left(self) -> None:
        if self.first_column:
            self.first_column -= 1
            self.relayout()

    def on_mouse_scroll_right(self, event: events.MouseScrollRight) -> None:
        event.stop()
        self.action_cursor_right()

    def on_mouse_scroll_left(self, event: events.MouseScrollLeft) -> None:
        event.stop()
        self.action_cursor_left()

    # -- what is shown -----------------------------------------------------------------
    @property
    def shown_ids(self) -> list[str]:
        return [self.coordinate_to_cell_key((i, 0)).row_key.value for i in range(self.row_count)]

    @property
    def current_id(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value

    @property
    def selected_shown(self) -> list[str]:
        """The selected runs the filter shows, in the table's order: what the selection acts on."""
        return [run_id for run_id in self.shown_ids if run_id in self.selected]

    def show_rows(self, rows: dict[str, Row]) -> None:
        """Bring the table in line with `rows`: changed cells only; order kept unless rows came."""
        self.rows_by_id = rows
        self.best = best_run(list(rows.values()))
        self.selected &= rows.keys()
        wanted = {run_id for run_id, r in rows.items() if self.filter.keeps(r)}
        all_columns = columns_for(list(rows.values()))
        cursor = self.current_id  # kept when the columns are built again
        if _spec(all_columns) != _spec(self.all_columns):  # a sweep varies something new, or wider
            self.all_columns = all_columns
            self._shown.clear()
            self.clear()
            self.column_layout = []
        for gone in self._shown.keys() - wanted:
            if self.column_layout:  # rows are in the table once it has columns
                self.remove_row(gone)
            del self._shown[gone]
        first = not self._shown
        added = False
        for run_id in wanted:
            new = cells(rows[run_id], best=run_id == self.best, selected=run_id in self.selected, cols=self.all_columns)
            new["mark"] = _Keyed(new["mark"], run_id)
            old = self._shown.get(run_id)
            self._shown[run_id] = new
            if old is None:
                if self.column_layout:
                    self.add_row(*(new[key] for key in self.shown_keys), key=run_id)
                added = True
            else:
                for key in self.shown_keys:
                    if _signature(new[key]) != _signature(old[key]):
                        self.update_cell(run_id, key, new[key], update_width=False)
        if not self.column_layout:
            self.relayout(cursor=cursor)  # None when the table was empty: the first row
        elif added:
            self.apply_order(keep_cursor=not first)

    def apply_order(self, keep_cursor: bool = True, cursor: str | None = None) -> None:
        """Sort the rows shown by `self.order`, keeping the cursor on the same run (or on `cursor`)."""
        if not self.column_layout:
            return
        current = cursor if cursor is not None else self.current_id if keep_cursor else None
        if self.order is None:
            ids = sorted(self._shown, reverse=True)  # ids begin with their creation time
        else:
            ids = sort_order([self.rows_by_id[i] for i in self._shown], *self.order)
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

    def clear_selection(self) -> None:
        self.selected.clear()
        self.show_rows(self.rows_by_id)
