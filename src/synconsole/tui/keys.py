"""Every console key, once: an id (remappable from ``[ui.keymap]``), the default key, the action.

The footer, the help screen and the command palette all read these bindings, so a key, its help
line and its palette entry cannot disagree. The actions' bindings and words come from their specs
(``core/actions/registry.py``).
"""

from __future__ import annotations

from textual.binding import Binding

from synconsole.core.actions.registry import SPECS

APP = [
    Binding("question_mark", "help", "Help", id="help", key_display="?"),
    Binding("j", "jobs", "Jobs", id="jobs"),
    Binding("exclamation_mark", "alerts", "Alerts", id="alerts", key_display="!"),
    Binding("v", "toggle_pii", "Reveal PII", id="reveal_pii", show=False),
    Binding("i", "report", "Incident report", id="report", show=False),
    Binding("p", "plan", "Remediation plan", id="plan", show=False),
    Binding("ctrl+p", "command_palette", "Commands", id="command_palette", show=False),
    Binding("q", "quit", "Quit", id="quit"),
]

#: the remediation actions, on the queue and on the detail screen alike
ACTIONS = [Binding(spec.key, spec.binding_action, spec.footer, id=spec.key_id, show=spec.in_footer)
           for spec in SPECS]

MAIN = [
    Binding("slash", "filter", "Filter", id="filter", key_display="/"),
    Binding("enter", "open", "Detail", id="open"),
    Binding("space", "mark", "Mark", id="mark"),
    Binding("escape", "back", "Clear", id="back", show=False),
    Binding("o", "sort", "Sort", id="sort", show=False),
    Binding("w", "toggle_scope", "Open/all", id="toggle_scope", show=False),
    Binding("tab", "app.focus_next", "Next pane", id="focus_next", show=False),
    Binding("shift+tab", "app.focus_previous", "Previous pane", id="focus_previous", show=False),
    Binding("ctrl+r,f5", "refresh", "Refresh", id="refresh", show=False),
    *ACTIONS,
]

DETAIL = [
    Binding("escape", "back", "Back", id="back"),
    *ACTIONS,
]

#: action -> the words the palette and the help screen use for it
DESCRIPTIONS = {spec.name: spec.help for spec in SPECS if spec.targeted}
