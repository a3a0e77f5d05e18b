"""``synconsole sources test``: run a source's queries once, with a LIMIT, and show what the ingest
would import (PII masked) and every problem, without writing anything anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from synconsole.config import SOURCE_QUERIES, SourceSettings
from synconsole.core.importer import RowError, validate
from synconsole.core.pii import masked
from synconsole.core import clock
from synconsole.sources.sql import BEGINNING, SourceError, SqlSource, row_id, to_import_row


@dataclass
class TryReport:
    source: str
    lines: list[str] = field(default_factory=list)
    problems: int = 0
    failed: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failed

    def text(self) -> str:
        tail = "no problems" if self.ok else (f"{self.problems} problem{'s' if self.problems != 1 else ''}"
                                              if not self.failed else "the source could not be read")
        return "\n".join([*self.lines, f"{self.source}: {tail}; nothing was changed"])


def try_source(source: SourceSettings, *, limit: int, reveal: bool = False,
               reader: SqlSource | None = None) -> TryReport:
    report = TryReport(source.name)
    zone = ZoneInfo(source.time_zone)
    own = reader is None
    try:
        reader = reader or SqlSource(source)
        for name in SOURCE_QUERIES:
            if name not in source.queries:
                continue
            page = reader.page(name, BEGINNING, None, limit)
            report.lines.append(f"{name}: {len(page.rows)} row{'s' if len(page.rows) != 1 else ''}"
                                f" (first {limit} by {source.watermark})")
            for raw in page.rows:
                row = to_import_row(name, raw, source, zone)
                try:
                    validate(row, clock.now())
                    problem = None
                except RowError as exc:
                    problem = str(exc)
                report.lines.append(f"  {json.dumps(masked(row, reveal=reveal), ensure_ascii=False, default=str)}")
                if problem:
                    report.problems += 1
                    report.lines.append(f"    problem, row {row_id(raw)}: {problem}")
    except SourceError as exc:
        report.failed = True
        report.lines.append(str(exc))
    finally:
        if own and reader is not None:
            reader.close()
    return report
