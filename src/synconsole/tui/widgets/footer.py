"""Textual's footer, rebuilt only when the keys it shows change.

The stock footer recomposes (new widgets, a new layout) on every focus change, twice: once for the
focus and once after the next refresh. Moving between panes whose keys are the same, or the second
time round, that is a frame's worth of work for nothing.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def _keys(self, screen: Screen) -> tuple:
        """What the footer would draw: the shown bindings, their keys, labels and state."""
        keys = []
        for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items():
            if binding.show or key == self.app.COMMAND_PALETTE_BINDING:
                keys.append((key, binding.action, binding.description, self.app.get_key_display(binding),
                             enabled, tooltip))
        return tuple(keys)

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = self._keys(screen)
            if keys == self._shown:
                self._bindings_ready = True
                return
            self._shown = keys
        super().bindings_changed(screen)
