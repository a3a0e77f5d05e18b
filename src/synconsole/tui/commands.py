"""The command palette: every action that fits where the focus is, plus navigation."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from synconsole.core.actions import Target
from synconsole.core.actions.registry import BY_NAME, SPECS
from synconsole.core.categories import CATEGORIES
from synconsole.tui.keys import DESCRIPTIONS
from synconsole.tui.widgets.categories import CategoryTree


def fits(action: str, target: Target, screen) -> bool:
    """Could ``action`` change anything on ``target``? Marked rows and filters: the preview tells."""
    from synconsole.tui.widgets.queue import QueueTable

    spec = BY_NAME.get(action)
    if spec is None:
        return True
    if target.category is not None and not target.ids:
        return spec.takes_category(target.category)
    if len(target.ids) != 1:
        return not spec.one_at_a_time  # several rows: the preview says which of them it changes
    row = screen.query_one(QueueTable).rows_by_key.get(target.ids[0])
    if row is None:
        return True
    return spec.fits_row(row)


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
                for spec in SPECS:
                    if spec.bulk and fits(spec.name, target, screen):
                        commands.append((f"{spec.label.capitalize()}: {label}",
                                         partial(app.start_action, spec.name, target, label),
                                         "preview first, then y/n"))
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
        # an action on its own (undo) starts from app.start_<name>
        commands += [(spec.palette, getattr(app, f"start_{spec.name}"), spec.help)
                     for spec in SPECS if not spec.targeted]
        commands += [
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
