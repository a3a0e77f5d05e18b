"""Textual's footer, rebuilt only when the keys it shows change, and never cut off.

The stock footer recomposes (new widgets, a new layout) on every focus change, twice: once for the
focus and once after the next refresh. Moving between panes whose keys are the same, or the second
time round, that is a frame's worth of work for nothing.

On a narrow terminal the stock footer cuts its last key in half ("? H"). This one draws compactly
below 120 columns and, when even that does not fit, leaves out whole keys in :data:`DROP_ORDER`
(each is still in ``?``, the help) until the rest fits.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey

#: actions left out first when the footer is too narrow for all of its keys
DROP_ORDER = ("quit", "alerts", "jobs", "toggle_scope", "sort", "mark")
COMPACT_BELOW = 120


class Footer(TextualFooter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None
        self._width = 0

    def _keys(self, screen: Screen) -> tuple:
        """What the footer would draw: the shown bindings, their keys, labels and state."""
        keys = []
        for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items():
            if binding.show or key == self.app.COMMAND_PALETTE_BINDING:
                keys.append((key, binding.action, binding.description, self.app.get_key_display(binding),
                             enabled, tooltip))
        return tuple(keys) + (self.app.size.width,)

    def bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            keys = self._keys(screen)
            if keys == self._shown:
                self._bindings_ready = True
                return
            self._shown = keys
        super().bindings_changed(screen)

    def on_resize(self) -> None:
        width = self.app.size.width
        if width != self._width:
            self._width = width
            self.compact = width < COMPACT_BELOW
            self._shown = None
            if self._bindings_ready:
                self.call_after_refresh(self.recompose)

    def compose(self):
        if not self._bindings_ready:
            return
        active = self.screen.active_bindings
        seen: dict[str, tuple] = {}
        for _node, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen[binding.action] = (binding, enabled, tooltip)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING) if self.app.ENABLE_COMMAND_PALETTE else None
        gap = 1 if self.compact else 3

        def cost(binding) -> int:
            return cell_len(self.app.get_key_display(binding)) + 1 + cell_len(binding.description) + gap

        room = (self.app.size.width or 200) - (cost(palette[1]) + 1 if palette else 0)
        for action in DROP_ORDER:
            if sum(cost(b) for b, _, _ in seen.values()) <= room:
                break
            seen.pop(action, None)
        for binding, enabled, tooltip in seen.values():
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip).data_bind(compact=TextualFooter.compact)
        if palette is not None:
            _node, binding, enabled, _tooltip = palette
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            classes="-command-palette", disabled=not enabled,
                            tooltip=binding.tooltip or binding.description)
