"""The live sync queue: one page of rows from SQL, drawn line by line.

A line-API widget (as Textualize/toolong draws its logs): a frame renders only the rows in view, and
each row is one cached strip, so a new page, a cursor move or a changed row costs a few lines of
text, not a table's worth of cell layouts. Columns fit the width instead of scrolling sideways: the
last error takes the room that is left, and the least useful columns give way on narrow terminals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from synconsole.core.browse import OPEN_STATES, QueueRow
from synconsole.tui.format import STATE_LABEL, STATE_STYLE, age, local
from synconsole.core.text import printable


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


COLUMNS = (Column("mark", "", 1), Column("id", "id", 7), Column("state", "state / category", 18),
           Column("start", "start", 12), Column("age", "age", 4), Column("attempts", "att", 3),
           Column("staff", "staff", 6), Column("customer", "customer", 16), Column("error", "last error", 0))
#: the last error is what says what went wrong: it keeps at least this share of the width (and
#: ERROR_MIN cells); to keep it, the other columns give way, least useful first
ERROR_SHARE = 0.4
ERROR_MIN = 16
GIVE_WAY = ("customer", "attempts", "start", "staff", "age")
GAP = 1


def fit_columns(width: int) -> list[tuple[Column, int]]:
    """The columns that fit ``width`` cells and their widths; the error column takes the rest."""
    shown = list(COLUMNS)
    dropping = list(GIVE_WAY)
    wanted = max(ERROR_MIN, int(width * ERROR_SHARE))

    def fixed() -> int:
        return sum(c.width + GAP for c in shown if c.key != "error")

    while width - fixed() < wanted and dropping:
        key = dropping.pop(0)
        shown = [c for c in shown if c.key != key]
    return [(c, c.width if c.key != "error" else max(0, width - fixed())) for c in shown]


class QueueTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    QueueTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        &:focus { background-tint: $foreground 5%; }
        & > .queue--header { text-style: bold; background: $panel; color: $foreground; }
        & > .queue--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .queue--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    COMPONENT_CLASSES = {"queue--header", "queue--cursor"}
    BINDINGS = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_row", "First row", show=False),
        Binding("end", "last_row", "Last row", show=False),
    ]

    class PageRequest(Message):
        """The cursor ran off the page: load the next (or previous) page from SQL."""

        def __init__(self, forward: bool) -> None:
            super().__init__()
            self.forward = forward

    class RowSelected(Message):
        """The highlighted row was clicked: open it."""

        def __init__(self, row: QueueRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows_by_key: dict[str, QueueRow] = {}
        self.marked: set[str] = set()
        self.cursor_row = 0
        #: what an empty page says (the screen knows why it is empty)
        self.empty_text = ""
        self._order: list[str] = []
        self._now: datetime | None = None
        self._columns: list[tuple[Column, int]] = fit_columns(80)
        self._strips: dict[tuple[str, bool], Strip] = {}
        self._header: Strip | None = None
        self._rich_style: Style | None = None
        self._after_paint: list = []

    # --- data -------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def current(self) -> QueueRow | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self.rows_by_key.get(self._order[self.cursor_row])

    @property
    def first_key(self):
        return self.rows_by_key[self._order[0]].key if self._order else None

    @property
    def last_key(self):
        return self.rows_by_key[self._order[-1]].key if self._order else None

    def show(self, rows: list[QueueRow], now: datetime, *, cursor: str | None = None) -> None:
        """Same rows in the same order: redraw only the rows that changed. Otherwise take the new
        page and keep the cursor on its appointment (else where it was); ``cursor`` "top",
        "bottom" or an appointment id puts it there instead."""
        order = [r.id for r in rows]
        previous, self.rows_by_key = self.rows_by_key, {r.id: r for r in rows}
        aged = now != self._now
        self._now = now
        if order == self._order and cursor is None:
            if not rows:  # what the empty page says may have changed
                self.refresh()
            for index, r in enumerate(rows):
                if aged or previous.get(r.id) != r:
                    self._forget(r.id)
                    self.refresh_line(index + 1)
            return
        cursor_id = self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None
        self._order = order
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(order) + 1)
        if cursor == "top":
            target = 0
        elif cursor == "bottom":
            target = len(order) - 1
        elif cursor in self.rows_by_key:
            target = order.index(cursor)
        elif cursor_id in self.rows_by_key:
            target = order.index(cursor_id)
        else:
            target = self.cursor_row
        self.move_cursor(row=target)
        self.refresh()

    def toggle_mark(self) -> None:
        row = self.current
        if row is None:
            return
        if row.id in self.marked:
            self.marked.discard(row.id)
        else:
            self.marked.add(row.id)
        self._forget(row.id)
        self.refresh_line(self.cursor_row + 1)
        if self.cursor_row < len(self._order) - 1:
            self.move_cursor(row=self.cursor_row + 1)

    def clear_marks(self) -> None:
        self.marked.clear()
        self._strips.clear()
        self.refresh()

    # --- cursor -----------------------------------------------------------------------------------

    @property
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        """Put the cursor on ``row`` (clamped to the page) and scroll it into view."""
        row = max(0, min(row, len(self._order) - 1)) if self._order else 0
        old, self.cursor_row = self.cursor_row, row
        if old != row:
            self.refresh_line(old + 1)
            self.refresh_line(row + 1)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        top, visible = int(self.scroll_y), self._visible_rows
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, force=True)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False, force=True)

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequest(True))
            return
        self.move_cursor(row=self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.PageRequest(False))
            return
        self.move_cursor(row=self.cursor_row - 1)

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.post_message(self.PageRequest(True))
            return
        self.move_cursor(row=self.cursor_row + self._visible_rows)

    def action_page_up(self) -> None:
        if self.cursor_row <= 0:
            self.post_message(self.PageRequest(False))
            return
        self.move_cursor(row=self.cursor_row - self._visible_rows)

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=self.row_count - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = int(self.scroll_y) + offset.y - 1
        if row >= self.row_count:
            return
        if row == self.cursor_row and self.current is not None:
            self.post_message(self.RowSelected(self.current))
        else:
            self.move_cursor(row=row)

    # --- drawing ----------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._columns = fit_columns(self.scrollable_content_region.width)
        self.virtual_size = Size(self.size.width, len(self._order) + 1)
        self._strips.clear()
        self._header = None
        self._scroll_to_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._header = None
        self._rich_style = None

    @property
    def _style(self) -> Style:
        """The widget's own style, computed once per style change: ``rich_style`` walks the
        ancestors' backgrounds, and a new page asked for it once per row."""
        if self._rich_style is None:
            self._rich_style = self.rich_style
        return self._rich_style

    def _forget(self, row_id: str) -> None:
        self._strips.pop((row_id, False), None)
        self._strips.pop((row_id, True), None)

    def after_paint(self, callback) -> None:
        """Run ``callback`` once the queue's next frame is drawn (within 0.2 s in any case)."""
        self._after_paint.append(callback)
        self.set_timer(0.2, self._run_after_paint)

    def _run_after_paint(self) -> None:
        callbacks, self._after_paint = self._after_paint, []
        for callback in callbacks:
            callback()

    def render_lines(self, crop):
        lines = super().render_lines(crop)
        if self._after_paint:
            self.call_next(self._run_after_paint)
        return lines

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            if self._header is None:
                style = self._style + self.get_component_rich_style("queue--header")
                self._header = self._strip([Text(c.label) for c, _ in self._columns], style, width)
            return self._header
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self._order):
            if index == 0 and self.empty_text:
                return self._strip([Text("  " + self.empty_text, "italic")], self._style + Style(dim=True), width,
                                   widths=[width])
            return Strip.blank(width, self._style)
        row_id = self._order[index]
        is_cursor = index == self.cursor_row
        strip = self._strips.get((row_id, is_cursor))
        if strip is None:
            over = self.get_component_rich_style("queue--cursor") if is_cursor else None
            strip = self._strips[(row_id, is_cursor)] = self._strip(
                self._cells(self.rows_by_key[row_id]), self._style, width, over=over)
        return strip

    def _strip(self, cells: list[Text], style: Style, width: int, *, over: Style | None = None,
               widths: list[int] | None = None) -> Strip:
        """One line: each cell cut to its column with an ellipsis, on the widget's style; the
        cursor's style goes over the cells (its colours win, as a highlight's should)."""
        console = self.app.console
        get_style = console.get_style
        segments: list[Segment] = []
        for size, cell in zip(widths or [size for _, size in self._columns], cells):
            if size <= 0:
                continue
            if cell.spans:
                cell.truncate(size, overflow="ellipsis")
                segments.extend(cell.render(console))
                used = cell.cell_len
            else:  # the usual cell: one string, one style (Text.truncate's cut, without the Text)
                text = cell.plain
                used = cell_len(text)
                if used > size:
                    text, used = set_cell_size(text, size - 1) + "…", size
                if text:
                    segments.append(Segment(text, get_style(cell.style) if cell.style else None))
            segments.append(Segment(" " * (size - used + GAP)))
        segments = list(Segment.apply_style(segments, style=style, post_style=over))
        line_style = style + over if over is not None else style
        return Strip(segments).adjust_cell_length(width, line_style)

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

    def _cells(self, row: QueueRow) -> list[Text]:
        now = self._now
        error = printable((row.last_error or "").replace("\n", " "), single_line=True)
        if now is not None and row.snoozed_until is not None and row.snoozed_until > now:
            error = "(snoozed) " + error
        cells = {
            "mark": Text("●", "bold yellow") if row.id in self.marked else Text(""),
            "id": Text(printable(row.id, single_line=True)),
            "state": self._state(row),
            "start": Text(local(row.start_at, row.time_zone, short=True)),
            "age": Text(age(row.since, now) if now is not None and row.sync_state in OPEN_STATES else ""),
            "attempts": Text(str(row.attempts)),
            "staff": Text(printable(row.staff_id, single_line=True)) if row.staff_id else Text("none", "red"),
            "customer": Text(printable(row.customer, single_line=True)),
            "error": Text(error),
        }
        return [cells[c.key] for c, _ in self._columns]
