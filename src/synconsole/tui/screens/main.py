"""The main screen: health bar, failure categories, the live queue, the filter line."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static

from synconsole.core import browse, clock, metrics
from synconsole.core.actions import Target
from synconsole.core.filters import MAX_LENGTH as MAX_FILTER_LENGTH
from synconsole.core.filters import FilterError
from synconsole.core.filters import parse as parse_filter
from synconsole.errors import UserError
from synconsole.jobs.state import JobView
from synconsole.tui import keys
from synconsole.tui.widgets.categories import ALL, CategoryTree
from synconsole.tui.widgets.health import HealthBar, JobsBadge
from synconsole.tui.widgets.queue import QueueTable
from synconsole.tui.widgets.footer import Footer

SORT_ORDER = ["attention", "start", "age", "attempts", "state", "id"]
ALL_SCOPE_SORTS = ("start", "id")


def id_list(ids, limit: int = 5) -> str:
    """'740, 741' or '740, 741, 748, 749, 751 +3'."""
    ids = list(ids)
    return ", ".join(ids[:limit]) + (f" +{len(ids) - limit}" if len(ids) > limit else "")


@dataclass
class Snapshot:
    """Everything one refresh read, in one thread, for one repaint."""

    now: datetime
    metrics: metrics.Metrics
    categories: list[browse.CategoryRow]
    rows: list[browse.QueueRow]
    total: int | None  # None until the count, read after the rows, arrives
    jobs: list[JobView]


class Loaded(Message):
    def __init__(self, snapshot: Snapshot, generation: int, *, offset: int | None = None,
                 cursor: str | None = None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.generation = generation
        #: the page turned out to be the first one after all (offset 0), and where the cursor goes
        self.offset = offset
        self.cursor = cursor


class Counted(Message):
    def __init__(self, total: int, generation: int, offset: int | None = None) -> None:
        super().__init__()
        self.total = total
        self.generation = generation
        #: rows before the page shown, counted again (None: unchanged)
        self.offset = offset


class LoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class FilterInput(Input):
    """The filter line holds at most ``MAX_FILTER_LENGTH`` characters: a longer paste is cut to fit
    (Input alone would drop it whole), so 100 KB from the clipboard costs what a filter costs."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=MAX_FILTER_LENGTH, **kwargs)

    def _on_paste(self, event) -> None:
        event.stop()
        if not event.text:
            return
        line = event.text.splitlines()[0] if event.text.splitlines() else ""
        start, end = sorted(self.selection)
        room = MAX_FILTER_LENGTH - (len(self.value) - (end - start))
        if len(line) > room:
            line = line[:max(0, room)]
            self.app.notify(f"a filter has at most {MAX_FILTER_LENGTH} characters: the paste was cut",
                            title="Filter", severity="warning")
        self.replace(line, start, end)


class MainScreen(Screen):
    BINDINGS = keys.MAIN

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.category: str | None = None
        self.fingerprint: str | None = None
        self.sort = "attention"
        self.scope = "open"  # open: failures and the queue; all: every appointment
        self.page_window: tuple[Any, str] | None = None  # key of the first row shown; None: the first page
        self.row_offset = 0
        self.load_generation = 0
        self.snapshot: Snapshot | None = None
        self._timer = None
        self._error: str | None = None
        self._cursor_to: str | None = None
        #: perf_counter() of the last repaint from a snapshot (benchmarks measure key -> repaint)
        self.painted_at = 0.0
        self._leave_filter_on_paint = False
        self.no_target = "no appointment selected"

    def compose(self) -> ComposeResult:
        yield HealthBar(id="health")
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                yield CategoryTree(id="categories")
                yield Static(id="category-info")
            with Vertical(id="right"):
                yield QueueTable(id="queue")
                yield Static(id="queue-info")
        yield FilterInput(placeholder="filter: text category:… state:… staff:… age:>24h   (enter apply, esc close)",
                          id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one(QueueTable).focus()
        self.load(hold=True)  # keys typed before the first page wait for it

    def on_resize(self, event) -> None:
        self.set_class(event.size.width < 100, "-narrow")
        self._fit_left(self.query_one(CategoryTree))

    def _fit_left(self, tree: CategoryTree) -> None:
        """The categories pane is as wide as its longest name (so none is cut), within reason: the
        queue keeps at least 54 columns."""
        width = min(max(tree.wanted_width() + 1, 20), max(20, self.size.width - 54), 34)
        left = self.query_one("#left")
        if left.styles.width is None or left.styles.width.value != width:
            left.styles.width = width

    def on_screen_resume(self) -> None:
        self.load()

    # --- loading ----------------------------------------------------------------------------------

    def condition(self, now: datetime):
        """The SQL condition of what the queue shows: the filter and the selected category."""
        return browse.queue_condition(self.filter_text, self.category, self.fingerprint, now)

    @property
    def effective_sort(self) -> str:
        """Over every appointment only the indexed sorts are offered: a million rows sort in SQL by
        an index, never in memory."""
        if self.scope == "all" and self.sort not in ALL_SCOPE_SORTS:
            return "start"
        return self.sort

    def load(self, *, after=None, before=None, full: bool = True, recount: bool = True, hold: bool = False) -> None:
        """Read in a thread; the next poll is armed only when this one is done. ``full`` also
        re-reads the dashboard (metrics, categories, jobs); paging and filtering read only rows.
        ``hold``: a user's step (paging, a filter, after an action): keys typed meanwhile wait for
        the page instead of acting on the one being replaced."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.load_generation += 1
        if self.snapshot is None:
            full = recount = True
        if hold:
            self.app.typeahead.hold("page")
        self._read(self.load_generation, after, before, full, recount)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _read(self, generation: int, after, before, full: bool, recount: bool) -> None:
        app = self.app
        previous = self.snapshot
        try:
            now = clock.now()
            cond = self.condition(now)
            with app.db.session() as session:
                if full:
                    m = metrics.compute(session, app.settings, now)
                    cats = browse.categories(session, app.settings)
                else:
                    m, cats = previous.metrics, previous.categories
                kwargs = dict(condition=cond, sort=self.effective_sort, reveal=app.reveal_pii,
                              open_only=self.scope == "open")
                anchor = offset = cursor = None
                if after is not None:
                    rows = browse.page(session, after=after, **kwargs)
                elif before is not None:
                    rows = browse.page(session, before=before, **kwargs)
                    if len(rows) < browse.PAGE:  # the top: a whole first page, the cursor just above
                        cursor = rows[-1].id if rows else "top"
                        rows, offset = browse.page(session, **kwargs), 0
                elif self.page_window is not None and self.row_offset > 0:
                    # a later page stays where it is; where that is gets counted again below
                    anchor = self.page_window
                    rows = browse.page(session, at=anchor, **kwargs)
                    if not rows:  # everything from there on is gone: back to the top
                        anchor, rows, offset = None, browse.page(session, **kwargs), 0
                else:
                    # the first page is read from the top every time: a row that now sorts
                    # above the first one shown must appear, not hide above the window
                    rows = browse.page(session, **kwargs)
                total = None if recount else previous.total
            jobs = app.job_views() if full else previous.jobs
            self.post_message(Loaded(Snapshot(now, m, cats, rows, total, jobs), generation, offset=offset,
                                     cursor=cursor))
            if recount:  # the rows are on screen first; counting thousands of matches comes after
                with app.db.session() as session:
                    total = browse.count(session, cond, open_only=self.scope == "open")
                    offset = None
                    if anchor is not None:
                        offset = browse.count_before(session, anchor, condition=cond, sort=self.effective_sort,
                                                     open_only=self.scope == "open")
                self.post_message(Counted(total, generation, offset))
        except FilterError as exc:
            self.post_message(LoadFailed(f"filter: {exc}"))
        except UserError as exc:  # the database locked, full, damaged or gone: its own one line
            self.post_message(LoadFailed(str(exc)))
        except Exception as exc:  # the database may be gone for a moment; keep showing, say why
            self.post_message(LoadFailed(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"))

    def on_loaded(self, message: Loaded) -> None:
        if message.generation != self.load_generation:
            return
        self._error = None
        snap = self.snapshot = message.snapshot
        if message.offset is not None:
            self.row_offset = message.offset
        if message.cursor is not None:
            self._cursor_to = message.cursor
        table = self.query_one(QueueTable)
        if self.filter_text or self.category:
            table.empty_text = "nothing matches · esc clears the filter"
        elif self.scope == "open":
            table.empty_text = "no open work: nothing failed or waiting · w shows all"
        else:
            table.empty_text = "no appointments yet · synconsole import FILE"
        table.show(snap.rows, snap.now, cursor=self._cursor_to)
        self._cursor_to = None
        if snap.rows:
            self.page_window = snap.rows[0].key
        tree = self.query_one(CategoryTree)
        tree.show(snap.categories, snap.now)
        self._fit_left(tree)
        self._paint_header()
        self._paint_info()
        self.painted_at = time.perf_counter()
        self.call_after_refresh(self.app.startup_done)
        if self._leave_filter_on_paint:
            table.after_paint(self._leave_filter)
        self.app.typeahead.release("page")
        self._arm()

    def on_counted(self, message: Counted) -> None:
        if message.generation != self.load_generation or self.snapshot is None:
            return
        if message.offset is not None:
            self.row_offset = message.offset
        self.snapshot.total = message.total
        self._paint_info()

    def on_load_failed(self, message: LoadFailed) -> None:
        self._error = message.error
        self._leave_filter()
        self.app.typeahead.release("page")
        self.app.typeahead.release("filter")
        self._paint_header()
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and self.is_current:
            self._timer = self.set_timer(self.app.settings.ui.refresh_interval_s, self.load)

    def _paint_header(self) -> None:
        snap = self.snapshot
        jobs = snap.jobs if snap else []
        badge = JobsBadge(hosted=self.app.jobs_hosted, paused=[j.id for j in jobs if j.paused],
                          failing=[j.id for j in jobs if j.last_ok is False])
        self.query_one(HealthBar).show(snap.metrics if snap else None, badge, read_only=self.app.read_only,
                                       error=self._error)

    def _paint_info(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        shown = len(snap.rows)
        first = self.row_offset + 1 if shown else 0
        text = Text(no_wrap=True, overflow="ellipsis")
        of = "…" if snap.total is None else f"{snap.total:,}"
        text.append(f"{first}-{self.row_offset + shown} of {of}", "bold")
        text.append(f"  {'open work' if self.scope == 'open' else 'all appointments'} · sort {self.effective_sort}",
                    "dim")
        marked = len(self.query_one(QueueTable).marked)
        if marked:
            text.append(f"  {marked} marked", "bold yellow")
        if self.category:
            text.append(f"  category {self.category}" + (" (one fingerprint)" if self.fingerprint else ""), "cyan")
        if self.filter_text:
            text.append(f"  filter {self.filter_text}", "cyan")
        if self.app.reveal_pii:
            text.append("  PII shown", "bold red")
        # one line each, whatever they say: no layout for them
        self.query_one("#queue-info", Static).update(text, layout=False)
        self.query_one("#category-info", Static).update(self.query_one(CategoryTree).describe(), layout=False)

    # --- paging -----------------------------------------------------------------------------------

    def on_queue_table_page_request(self, message: QueueTable.PageRequest) -> None:
        table = self.query_one(QueueTable)
        snap = self.snapshot
        if message.forward:
            if snap is None or len(snap.rows) < browse.PAGE or (
                    snap.total is not None and self.row_offset + len(snap.rows) >= snap.total):
                return
            self.row_offset += len(snap.rows)
            self.page_window = None
            self.load(after=table.last_key, full=False, recount=False, hold=True)
            self._cursor_to = "top"
        else:
            if self.row_offset == 0:
                return
            self.row_offset = max(0, self.row_offset - browse.PAGE)
            self.page_window = None
            self.load(before=table.first_key, full=False, recount=False, hold=True)
            self._cursor_to = "bottom"

    # --- filter, category, sort -----------------------------------------------------------------

    def action_filter(self) -> None:
        self._leave_filter_on_paint = False
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Submitted, "#filter")
    def _apply_filter(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        try:
            if text:
                parse_filter(text)
        except FilterError as exc:
            self.app.notify(str(exc), title="Filter", severity="error")
            return
        self.filter_text = text
        self._leave_filter_on_paint = True
        self.app.typeahead.hold("filter")  # the next key is for the filtered queue
        self._reset_window()

    def _leave_filter(self) -> None:
        """After a filter is applied: its line stays while it is set, the queue takes the keys. Done
        once its rows are on screen: moving the focus rebuilds the footer, and that can wait a frame."""
        if not self._leave_filter_on_paint:
            return
        self._leave_filter_on_paint = False
        box = self.query_one("#filter", Input)
        box.display = bool(self.filter_text)
        if box.has_focus:
            self.query_one(QueueTable).focus()
        self.call_after_refresh(self.app.typeahead.release, "filter")

    def on_key(self, event) -> None:
        box = self.query_one("#filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            box.display = bool(self.filter_text)
            self.query_one(QueueTable).focus()

    def on_descendant_focus(self, event) -> None:
        self._paint_info()

    def on_descendant_blur(self, event) -> None:
        self._paint_info()

    def on_tree_node_highlighted(self, event) -> None:
        self._paint_info()

    def on_category_tree_selected(self, message: CategoryTree.Selected) -> None:
        self.category, self.fingerprint = message.category, message.fingerprint
        self._reset_window()
        self.query_one(QueueTable).focus()

    def _reset_window(self) -> None:
        self.page_window = None
        self.row_offset = 0
        self._cursor_to = "top"
        self.load(full=False, hold=True)

    def show_category(self, category: str) -> None:
        self.category, self.fingerprint = category, None
        self._reset_window()

    def sort_by(self, sort: str) -> None:
        self.sort = sort
        self._reset_window()

    def action_sort(self) -> None:
        order = list(ALL_SCOPE_SORTS) if self.scope == "all" else SORT_ORDER
        current = self.effective_sort
        self.sort = order[(order.index(current) + 1) % len(order)] if current in order else order[0]
        self._reset_window()

    def action_toggle_scope(self) -> None:
        self.scope = "all" if self.scope == "open" else "open"
        self._reset_window()

    def action_back(self) -> None:
        table = self.query_one(QueueTable)
        if table.marked:
            table.clear_marks()
            self.load()
        elif self.category or self.filter_text:
            self.category = self.fingerprint = None
            self.filter_text = ""
            self.query_one("#filter", Input).display = False
            self._reset_window()

    def action_refresh(self) -> None:
        self.load(hold=True)

    # --- rows -------------------------------------------------------------------------------------

    def action_mark(self) -> None:
        self.query_one(QueueTable).toggle_mark()
        self._paint_info()

    def action_open(self) -> None:
        row = self.query_one(QueueTable).current
        if row is not None:
            from synconsole.tui.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(row.id))

    def on_queue_table_row_selected(self, event: QueueTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def target(self) -> tuple[Target, str] | None:
        """What an action applies to here, and how every dialog names it: the marked rows, else
        the category highlighted in the categories pane when it has the focus, else the current
        row. None, with the reason in :attr:`no_target`, when nothing fits."""
        table = self.query_one(QueueTable)
        tree = self.query_one(CategoryTree)
        self.no_target = "no appointment selected"
        if table.marked:
            ids = tuple(sorted(table.marked))
            return Target(ids=ids), f"{len(ids)} marked: {id_list(ids)}"
        if tree.has_focus:
            node = tree.cursor_node
            category, fingerprint = node.data if node is not None and node.data else (ALL, None)
            if category == ALL or fingerprint is not None:
                # never the queue's row behind the pane's back: it is not what is highlighted here
                self.no_target = ("“all failures” is every category: pick one (↓), or tab to the queue to act on "
                                  "rows" if category == ALL else
                                  "one group of identical failures: enter shows them in the queue; mark them "
                                  "there (space), or act on the whole category (↑)")
                return None
            return Target(category=category), f"category {category} ({tree.count_of(category)})"
        row = table.current
        if row is None:
            return None
        return Target(ids=(row.id,)), row.id

    def filter_target(self) -> tuple[Target, str] | None:
        total = self.snapshot.total if self.snapshot is not None else None
        of = f" ({total:,})" if total is not None else ""
        if self.filter_text and not parse_filter(self.filter_text).is_empty:  # "-" selects nothing, not all
            return Target(filter=self.filter_text), f"everything matching “{self.filter_text}”{of}"
        if self.category and not self.fingerprint:
            return Target(category=self.category), f"category {self.category}{of}"
        return None

    def action_act(self, action: str) -> None:
        found = self.target()
        if found is None:
            self.app.notify(self.no_target, severity="warning")
            return
        target, label = found
        self.app.start_action(action, target, label)

    def action_undo(self) -> None:
        self.app.start_undo()

    def after_action(self) -> None:
        self.query_one(QueueTable).clear_marks()
        self.load(hold=True)
