"""The command palette: every action that fits where the focus is, plus navigation."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from synconsole.core.actions import Target
from synconsole.core import categories as cats
from synconsole.core.categories import CATEGORIES
from synconsole.tui.keys import DESCRIPTIONS
from synconsole.tui.widgets.categories import CategoryTree


DEFAULT_CATEGORY_ACTIONS = ("retry", "cancel", "snooze")


def category_actions(category_id: str) -> tuple[str, ...]:
    """What a category's failures can take (the action's preview decides in the end; this keeps the
    palette from offering what cannot apply at all)."""
    return DEFAULT_CATEGORY_ACTIONS + cats.get(category_id).fixes


def fits(action: str, target: Target, screen) -> bool:
    """Could ``action`` change anything on ``target``? Marked rows and filters: the preview tells."""
    from synconsole.tui.widgets.queue import QueueTable

    if target.category is not None and not target.ids:
        return action in category_actions(target.category)
    if len(target.ids) != 1:
        return action != "reschedule"  # several rows: the preview says which of them it changes
    row = screen.query_one(QueueTable).rows_by_key.get(target.ids[0])
    if row is None:
        return True
    open_ = row.status == "scheduled"
    failed = row.sync_state == "failed"
    return {
        "retry": failed or row.sync_state == "retry_scheduled",
        "cancel": open_,
        "backfill_email": open_ and cats.BACKFILL in cats.get(row.category).fixes,
        "reschedule": open_ and row.sync_state != "in_flight",
        "assign_staff": open_ and not row.booking_uid and row.sync_state != "in_flight",
        "snooze": failed,
    }.get(action, True)


class ConsoleCommands(Provider):
    def _commands(self) -> list[tuple[str, object, str]]:
        from synconsole.tui.screens.detail import DetailScreen
        from synconsole.tui.screens.main import SORT_ORDER, MainScreen

        app = self.app
        screen = self.screen
        commands: list[tuple[str, object, str]] = []
        if isinstance(screen, MainScreen):
            found = screen.target()
            if found is not None:
                target, label = found
                for action, words in DESCRIPTIONS.items():
                    if fits(action, target, screen):
                        commands.append((f"{action.replace('_', ' ').capitalize()}: {label}",
                                         partial(app.start_action, action, target, label), words))
            bulk = screen.filter_target()
            if bulk is not None:
                target, label = bulk
                for action in ("retry", "cancel", "backfill_email", "snooze"):
                    if fits(action, target, screen):
                        commands.append((f"{action.replace('_', ' ').capitalize()}: {label}",
                                         partial(app.start_action, action, target, label), "preview first, then y/n"))
            counts = screen.query_one(CategoryTree).rows
            for category in CATEGORIES:
                if category in counts:  # only categories with failures in them
                    commands.append((f"Show category {category} ({counts[category].count})",
                                     partial(screen.show_category, category), "filter the queue to this category"))
            for sort in SORT_ORDER:
                commands.append((f"Sort by {sort}", partial(screen.sort_by, sort), "sort the queue"))
            commands.append(("Clear filter and marks", screen.action_back, "show everything again"))
            commands.append(("Toggle open work / all appointments", screen.action_toggle_scope,
                             "open: failures and the queue; all: synced and cancelled too"))
            commands.append(("Filter…", screen.action_filter, "category:… state:… staff:… age:>24h"))
        if isinstance(screen, DetailScreen):
            for action, words in DESCRIPTIONS.items():
                commands.append((f"{action.replace('_', ' ').capitalize()}: {screen.appointment_id}",
                                 partial(screen.action_act, action), words))
        commands += [
            ("Undo a reversible action", app.start_undo, "backfill, assign staff, snooze"),
            ("Jobs", app.action_jobs, "state, last and next run; pause, resume, run now"),
            ("Alerts", app.action_alerts, "active alerts and what to do"),
            ("Incident report (last 24 h)", app.action_report, "before/after, fixes, what remains; w writes it"),
            ("Remediation plan", app.action_plan, "what each failure calls for; a applies the automatic part"),
            ("Reveal or mask emails and phones", app.action_toggle_pii, "PII is masked by default"),
            ("Help: keys", app.action_help, "every key, from the active bindings"),
        ]
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
