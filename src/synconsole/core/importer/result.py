"""What an import reports: each bad row (its line, kind, id and reason) and the counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from synconsole.core.importer.fields import KINDS

@dataclass
class BadRow:
    line: int
    kind: str | None
    id: str | None
    reason: str

    def __str__(self) -> str:
        what = f"{self.kind} {self.id}: " if self.kind and self.id else (f"{self.kind}: " if self.kind else "")
        return f"line {self.line}: {what}{self.reason}"


@dataclass
class KindCounts:
    inserted: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated


@dataclass
class ImportResult:
    counts: dict[str, KindCounts] = field(default_factory=lambda: {k: KindCounts() for k in KINDS})
    bad: int = 0
    rows: int = 0
    dry_run: bool = False
    #: rows new or changed in what Cal.com should hold (an unchanged re-read changes nothing)
    changed: int = 0

    @property
    def ok(self) -> bool:
        return self.bad == 0

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        parts = []
        for kind in KINDS:
            c = self.counts[kind]
            plural = kind if kind == "staff" or c.total == 1 else kind + "s"
            parts.append(f"{c.total} {plural} ({c.inserted} new, {c.updated} updated)")
        bad = f"; {self.bad} bad row{'s' if self.bad != 1 else ''} skipped" if self.bad else ""
        return f"{verb} {', '.join(parts)}{bad}"
