"""Failure categories with counts, expandable into fingerprints (identical failures grouped).
Selecting one filters the queue."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from synconsole.core.browse import CategoryRow

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
        self.root.add_leaf(self._label("all failures", total, None), data=(ALL, None))
        for row in rows:
            node = self.root.add(self._label(row.id, row.count, KIND_STYLE.get(row.kind)), data=(row.id, None),
                                 expand=row.id in expanded)
            for fp in row.fingerprints:
                text = Text(f"{fp.count:>4} ", "bold")
                text.append(fp.example or "(no message)", "dim")
                node.add_leaf(text, data=(row.id, fp.fingerprint))
        if cursor is not None:
            self._restore(cursor)

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
    def _label(name: str, count: int, style: str | None) -> Text:
        """Count first, so a narrow pane cuts the end of the name, never the number."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{count:>5} ", "bold")
        text.append(name, style or "bold")
        return text

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        category, fingerprint = event.node.data
        self.post_message(self.Selected(None if category == ALL else category, fingerprint))

    def describe(self) -> Text:
        """A line about the highlighted category: kind, disposition, oldest failure."""
        node = self.cursor_node
        if node is None or node.data is None or node.data[0] == ALL:
            return Text("tab: here · enter: filter", "dim")
        row = self.rows.get(node.data[0])
        if row is None:
            return Text("")
        t = Text()
        t.append(row.kind, KIND_STYLE.get(row.kind, ""))
        t.append(f" · {row.disposition}", "dim")
        return t
