"""Every console key, once: an id (remappable from ``[ui.keymap]``), the default key, the action.

The footer, the help screen and the command palette all read these bindings, so a key, its help
line and its palette entry cannot disagree.
"""

from __future__ import annotations

from textual.binding import Binding

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
ACTIONS = [
    Binding("r", "act('retry')", "Retry", id="retry"),
    Binding("c", "act('cancel')", "Cancel", id="cancel"),
    Binding("e", "act('backfill_email')", "Backfill", id="backfill_email"),
    Binding("s", "act('reschedule')", "Reschedule", id="reschedule", show=False),
    Binding("a", "act('assign_staff')", "Assign staff", id="assign_staff", show=False),
    Binding("z", "act('snooze')", "Snooze", id="snooze", show=False),
    Binding("u", "undo", "Undo", id="undo", show=False),
]

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
DESCRIPTIONS = {
    "retry": "Retry: back to the queue",
    "cancel": "Cancel (asks for a reason; cancels in Cal.com when booked)",
    "backfill_email": "Backfill a placeholder email, then retry",
    "reschedule": "Reschedule to a free slot Cal.com offers",
    "assign_staff": "Assign a staff member",
    "snooze": "Snooze / acknowledge with a note",
}
