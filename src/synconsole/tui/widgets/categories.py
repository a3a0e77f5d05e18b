"""Failure categories with counts, expandable into fingerprints (identical failures grouped).
Selecting one filters the queue."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from synconsole.core.browse import CategoryRow

#: a disposition in the pane's few cells: who deals with the category
WHO = {"auto_cleanup": "cleanup job", "auto_fix": "auto-fixed", "auto_retry": "retried", "manual": "a human"}
KIND_STYLE = {"legitimate": "green", "business": "yellow", "data": "magenta", "config": "red",
              "transient": "cyan", "technical": "bold red"}
ALL = "__all__"


class CategoryTree(Tree[tuple[str, str | None]]):
    """Root children: "all failures" then one node per category; grandchildren: fingerprints."""

    DEFAULT_CSS = "CategoryTree > .tree--guides { color: $panel-lighten-2; }"

    class Selected(Message):
        def __init__(self, category: str | None, fingerprint: str | None) -> None:
            super().__init__()
            self.category = category
            self.fingerprint = fingerprint

    def __init__(self, **kwargs) -> None:
        super().__init__("failures", data=(ALL, None), **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._shape: tuple = ()
        self.rows: dict[str, CategoryRow] = {}

    def show(self, rows: list[CategoryRow], now: datetime) -> None:
        shape = tuple((r.id, r.count, tuple((f.fingerprint, f.count) for f in r.fingerprints)) for r in rows)
        self.rows = {r.id: r for r in rows}
        if shape == self._shape:
            return
        self._shape = shape
        expanded = {n.data[0] for n in self.root.children if n.is_expanded}
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        self.clear()
        total = sum(r.count for r in rows)
        digits = len(str(total))
        self.root.add_leaf(self._label("all failures", total, None, digits), data=(ALL, None))
        for row in rows:
            node = self.root.add(self._label(row.id, row.count, KIND_STYLE.get(row.kind), digits),
                                 data=(row.id, None), expand=row.id in expanded)
            for fp in row.fingerprints:
                text = Text(f"{fp.count:>4} ", "bold")
                text.append(fp.example or "(no message)", "dim")
                node.add_leaf(text, data=(row.id, fp.fingerprint))
        if cursor is not None:
            self._restore(cursor)
        else:  # always a row highlighted: what the pane would act on is never nothing
            self.cursor_line = 0

    def _restore(self, data) -> None:
        def walk(node: TreeNode):
            for child in node.children:
                if child.data == data:
                    return child
                found = walk(child)
                if found is not None:
                    return found
            return None

        node = walk(self.root)
        if node is not None:
            self.move_cursor(node)

    @staticmethod
    def _label(name: str, count: int, style: str | None, digits: int = 2) -> Text:
        """Count first, so a narrow pane cuts the end of the name, never the number."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{count:>{max(2, digits)}} ", "bold")
        text.append(name, style or "bold")
        return text

    def wanted_width(self) -> int:
        """Cells the pane needs for every category's whole name (the expander, count and name)."""
        labels = [n.label.cell_len for n in self.root.children] or [len("all failures") + 3]
        return 2 + max(labels) + 1

    def on_focus(self) -> None:
        """Tabbing in highlights a row at once: what an action would act on is never nothing."""
        if self.cursor_line < 0 and self.root.children:
            self.cursor_line = 0

    def count_of(self, category: str) -> int:
        row = self.rows.get(category)
        return row.count if row is not None else 0

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        category, fingerprint = event.node.data
        self.post_message(self.Selected(None if category == ALL else category, fingerprint))

    def describe(self) -> Text:
        """A line about the highlighted category (kind, disposition), or what the keys do here."""
        t = Text(no_wrap=True, overflow="ellipsis")
        node = self.cursor_node
        if not self.has_focus:
            t.append("tab: categories", "dim")
            return t
        if node is None or node.data is None or node.data[0] == ALL:
            t.append("↓ pick · ⏎ filter", "dim")
            return t
        row = self.rows.get(node.data[0])
        if row is not None:
            t.append(row.kind, KIND_STYLE.get(row.kind, ""))
            t.append(f" · {WHO.get(row.disposition, row.disposition)}", "dim")
        return t
