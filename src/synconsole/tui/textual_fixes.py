"""Work-arounds for bugs in the Textual version we pin (8.2.8), each with its upstream report.

``OptionList`` page up/down raises ``KeyError`` while the list has options but no line map:
``_update_lines`` returns early when the widget's ``scrollable_content_region`` is empty (a list of
zero content height: the command palette's list in a terminal 3 or 4 lines high, or any list
between ``add_options`` and the next layout), and ``_move_page`` then indexes
``self._index_to_line[self.highlighted]`` in the still-empty map. Reported upstream as
"OptionList: page_up/page_down raise KeyError when the list has no line map yet"; the fix there is
to guard ``_move_page`` as ``scroll_to_highlight`` already is. Until then, with no line map to page
over, a page key moves one option, which is what the user can see anyway.
"""

from __future__ import annotations

from textual.widgets import OptionList

_original_move_page = OptionList._move_page


def _move_page(self: OptionList, direction: int) -> None:
    if self._options and self.highlighted is not None and self.highlighted not in self._index_to_line:
        if direction < 0:
            self.action_cursor_up()
        else:
            self.action_cursor_down()
        return
    _original_move_page(self, direction)


def apply() -> None:
    """Install the work-arounds (idempotent)."""
    if OptionList._move_page is not _move_page:
        OptionList._move_page = _move_page  # type: ignore[method-assign]
