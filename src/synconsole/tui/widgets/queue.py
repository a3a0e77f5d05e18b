"""The live sync queue: one page of rows from SQL, updated by row key without flicker."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from synconsole.core.browse import OPEN_STATES, QueueRow
from synconsole.tui.format import STATE_LABEL, STATE_STYLE, age, local

COLUMNS = [("mark", " ", 1), ("id", "id", 7), ("state", "state / category", 18), ("start", "start", 12),
           ("age", "age", 4), ("attempts", "att", 3), ("staff", "staff", 6), ("error", "last error", 40),
           ("customer", "customer", 16)]
ERROR_MIN = 24


class QueueTable(DataTable):
    DEFAULT_CSS = "QueueTable { height: 1fr; }"

    class PageRequest(Message):
        """The cursor ran off the page: load the next (or previous) page from SQL."""

        def __init__(self, forward: bool) -> None:
            super().__init__()
            self.forward = forward

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequest(True))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.PageRequest(False))
            return
        super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequest(True))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.PageRequest(False))
            return
        super().action_page_up()

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.rows_by_key: dict[str, QueueRow] = {}
        self.marked: set[str] = set()
        self._order: list[str] = []

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def on_resize(self) -> None:
        """The error excerpt takes whatever width the fixed columns leave."""
        fixed = sum(width + 2 * self.cell_padding for key, _, width in COLUMNS if key not in ("error", "customer"))
        room = self.size.width - fixed - 2 * self.cell_padding - 1
        column = self.columns.get("error")  # type: ignore[call-overload]
        if column is None:
            return
        width = max(ERROR_MIN, room)
        if column.width != width:
            column.width = width
            self._require_update_dimensions = True
            self.refresh()

    @staticmethod
    def _state(row: QueueRow) -> Text:
        """Failed rows show their category (that is what matters about them); others their state."""
        if row.drift:
            return Text("drift", "bold magenta")
        if row.sync_state == "failed" and row.category:
            return Text(row.category, "bold red")
        label = STATE_LABEL.get(row.sync_state, row.sync_state)
        if row.sync_state == "retry_scheduled" and row.category:
            label = f"retry·{row.category}"
        if row.sync_op != "create" and row.sync_state in ("pending", "in_flight", "retry_scheduled"):
            label = f"{label} ({row.sync_op})"
        return Text(label, STATE_STYLE.get(row.sync_state, ""))

    def _cells(self, row: QueueRow, now: datetime) -> list:
        error = row.last_error or ""
        if row.snoozed_until is not None and row.snoozed_until > now:
            error = "(snoozed) " + error
        return [
            Text("●", "bold yellow") if row.id in self.marked else "",
            row.id, self._state(row), local(row.start_at, row.time_zone, short=True),
            age(row.since, now) if row.sync_state in OPEN_STATES else "",
            str(row.attempts), row.staff_id or Text("none", "red"), error, row.customer,
        ]

    def show(self, rows: list[QueueRow], now: datetime) -> None:
        """Same rows in the same order: change only the cells that differ; else rebuild, keeping the cursor."""
        order = [r.id for r in rows]
        current = self.rows_by_key
        self.rows_by_key = {r.id: r for r in rows}
        if order == self._order:
            for r in rows:
                if current.get(r.id) != r:
                    for (key, _, _), value in zip(COLUMNS, self._cells(r, now)):
                        self.update_cell(r.id, key, value)
            return
        cursor_id = self._order[self.cursor_row] if self._order and 0 <= self.cursor_row < len(self._order) else None
        self._order = order
        with self.app.batch_update():
            self.clear()
            for r in rows:
                self.add_row(*self._cells(r, now), key=r.id)
            if cursor_id in self.rows_by_key:
                self.move_cursor(row=order.index(cursor_id), animate=False)

    def refresh_ages(self, now: datetime) -> None:
        for r in self.rows_by_key.values():
            self.update_cell(r.id, "age", age(r.since, now))

    @property
    def current(self) -> QueueRow | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self.rows_by_key.get(self._order[self.cursor_row])

    def toggle_mark(self, now: datetime) -> None:
        row = self.current
        if row is None:
            return
        if row.id in self.marked:
            self.marked.discard(row.id)
        else:
            self.marked.add(row.id)
        self.update_cell(row.id, "mark", self._cells(row, now)[0])
        if self.cursor_row < len(self._order) - 1:
            self.move_cursor(row=self.cursor_row + 1)

    @property
    def first_key(self):
        return self.rows_by_key[self._order[0]].key if self._order else None

    @property
    def last_key(self):
        return self.rows_by_key[self._order[-1]].key if self._order else None
