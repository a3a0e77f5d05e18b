"""The values an action passes around: its target, its preview, its result, a planner's check, the
audit summary, and what the console asks first. No SQL and no action logic."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Target:
    """What an action works on. Given together, ids, filter and category narrow each other.

    ``filter=""`` is the empty filter (everything); ``None`` means not given. A target with none of
    the three is refused (UsageError)."""

    ids: tuple[str, ...] = ()
    filter: str | None = None
    category: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.ids and self.filter is None and self.category is None

    def describe(self) -> str:
        parts = []
        if self.ids:
            parts.append(id_list(list(self.ids), 5))
        if self.category is not None:
            parts.append(f"category {self.category}")
        if self.filter is not None:
            parts.append(f"filter {self.filter!r}")
        return ", ".join(parts) or "nothing"


@dataclass
class Preview:
    """Exactly what an apply would change."""

    action: str
    ids: list[str]
    skipped: dict[str, str]
    changes: dict[str, dict]
    #: additions: what apply needs to re-check and write
    versions: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    target: Target | None = None
    at: datetime | None = None
    values: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: backfill_email: customer id -> (email before, placeholder)
    customers: dict[str, tuple[str | None, str]] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.ids)

    def headline(self) -> str:
        """'retry 3 appointments' (no ids)."""
        return self.describe(max_ids=0)

    def describe(self, max_ids: int = 20) -> str:
        """'retry 3 appointments: 748, 750, 751' (+ '… and N more')."""
        # the registry imports this module: looked up when called, not when imported
        from synconsole.core.actions.registry import BY_NAME

        n = self.count
        if n == 0:
            extra = f" ({len(self.skipped)} skipped)" if self.skipped else ""
            return f"{self.action.replace('_', ' ')}: nothing eligible{extra}"
        noun = f"{n} appointment{'s' if n != 1 else ''}"
        spec = BY_NAME.get(self.action)
        head = spec.headline(self, noun) if spec is not None else f"{self.action} {noun}"
        if max_ids <= 0:
            return head
        return f"{head}: {id_list(self.ids, max_ids)}"

    def describe_skipped(self, max_ids: int = 20) -> list[str]:
        """One line per reason: 'skipped 760, 761: not failed (pending)'."""
        by_reason: dict[str, list[str]] = {}
        for i, why in self.skipped.items():
            by_reason.setdefault(why, []).append(i)
        return [f"skipped {id_list(ids, max_ids)}: {why}" for why, ids in by_reason.items()]

    def describe_changes(self, max_ids: int = 20) -> list[str]:
        """'748: sync_state failed -> pending, category host_conflict -> None' per id."""
        lines = []
        for i in self.ids[:max_ids]:
            ch = self.changes.get(i, {})
            before, after = ch.get("before", {}), ch.get("after", {})
            parts = [f"{k} {_show(before.get(k))} -> {_show(after.get(k))}" for k in after
                     if before.get(k) != after.get(k)]
            lines.append(f"{i}: {', '.join(parts) if parts else 'no field changes'}")
        if len(self.ids) > max_ids:
            lines.append(f"… and {len(self.ids) - max_ids} more")
        return lines


@dataclass
class Result:
    action: str
    changed: list[str]  # with dry_run: the ids that would change
    skipped: dict[str, str]
    event_id: int | None
    message: str
    dry_run: bool = False
    preview: Preview | None = None

    @property
    def ok(self) -> bool:
        return bool(self.changed)


@dataclass(frozen=True)
class Check:
    """A planner's answer: the validated params, and how to judge one row (a reason, or
    ``(values, before, after)``)."""

    params: dict[str, Any]
    row: Callable[[Any], Any]


@dataclass(frozen=True)
class Summary:
    result: str  # the audit event's result
    message: str  # what the operator reads


@dataclass(frozen=True)
class Ask:
    """What the console asks before the preview. ``kind``: ``text`` (a prompt), ``staff`` (the staff
    picker) or ``slot`` (Cal.com's free slots); the answer goes to ``param`` (``reason`` is apply's)."""

    kind: str
    param: str
    prompt: str = ""
    required: bool = False
    value: str = ""


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def id_list(ids: Sequence[str], max_ids: int) -> str:
    shown = ", ".join(ids[:max_ids])
    if len(ids) > max_ids:
        shown += f" … and {len(ids) - max_ids} more"
    return shown
