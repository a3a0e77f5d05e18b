"""Help built from the active bindings of the screen underneath, so remapped keys show as they are."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from synconsole.tui.keys import DESCRIPTIONS

FILTER_HELP = ("filter (/): words match id, customer, staff, error; category:host_conflict state:failed "
               "staff:s-1 age:>24h status:cancelled drift:yes")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help_close")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Static(self._table(), id="help-table")

    def _table(self) -> Table:
        table = Table(title="keys", expand=True, box=None, padding=(0, 1))
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id", style="dim", no_wrap=True)
        seen = set()
        for key, active in self.under.active_bindings.items():
            binding: Binding = active.binding
            # synconsole's own keys (they carry an id for [ui.keymap]); widgets' cursor keys are
            # the usual ones and would push these off the screen
            if binding.action in seen or binding.system or not binding.id:
                continue
            seen.add(binding.action)
            action = binding.action.removeprefix("act('").removesuffix("')")
            table.add_row(self.app.get_key_display(binding), DESCRIPTIONS.get(action, binding.description),
                          binding.id or "")
        # a Text, not a string: "[ui.keymap]" would be taken for markup and vanish
        table.caption = Text(FILTER_HELP + '\nremap a key in the config: [ui.keymap] id = "keys", e.g. retry = "x"')
        return table

    def action_close(self) -> None:
        self.dismiss(None)
