"""The one path of an import, for a file, the live sources and the ingest API: rows read,
validated one at a time and written in batches, in one transaction (a file: committed every few
batches)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlalchemy as sa

from synconsole.config import SCHEMA
from synconsole.core import clock
from synconsole.core.db import Database, refresh_planner_statistics
from synconsole.core.importer.fields import KINDS, RowError
from synconsole.core.importer.reading import open_rows
from synconsole.core.importer.result import BadRow, ImportResult
from synconsole.core.importer.validation import validate
from synconsole.core.importer.writing import BATCH_SIZE, Batcher

DEFAULT_ANONYMOUS_PATTERN = SCHEMA["categories"]["anonymous_phone_pattern"].default


def import_file(
    db: Database,
    path: Path,
    *,
    dry_run: bool = False,
    report: Callable[[BadRow], None] = lambda bad: None,
    now: datetime | None = None,
    anonymous_pattern: str = DEFAULT_ANONYMOUS_PATTERN,
) -> ImportResult:
    """Stream ``path`` into the database. ``report`` is called for every bad row, in file order
    for unreadable and invalid rows (unknown references are reported when their batch is written)."""
    now = now or clock.now()
    result = ImportResult(dry_run=dry_run)
    with db.engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        conn.begin()
        try:
            import_rows(db, conn, open_rows(path), result, report=report, now=now,
                        anonymous_pattern=anonymous_pattern, commit=None if dry_run else conn.commit)
        except BaseException:
            conn.rollback()
            raise
        if dry_run:
            conn.rollback()
        else:
            conn.commit()
    if not dry_run:
        refresh_planner_statistics(db)
    return result


def import_rows(db: Database, conn: sa.Connection, rows: Iterable[tuple[int, dict[str, Any] | RowError]],
                result: ImportResult, *, report: Callable[[BadRow], None] = lambda bad: None,
                now: datetime, anonymous_pattern: str = DEFAULT_ANONYMOUS_PATTERN,
                commit: Callable[[], Any] | None = None) -> None:
    """Validate and upsert rows of the import format on ``conn``, in its transaction: the one path
    of ``import``, the live sources and the ingest API. Each row is validated on its own; a bad one
    is reported (with its line, or a source's row id) and skipped, the good rows land. ``commit``
    (a file import): called every few batches, so a long file is not one transaction."""
    batcher = Batcher(db, conn, result, report, now=now, anonymous_pattern=anonymous_pattern)
    for line, row in rows:
        result.rows += 1
        if isinstance(row, RowError):
            batcher.reject(BadRow(line, None, None, str(row)))
            continue
        try:
            kind, values = validate(row, now)
        except RowError as exc:
            ident = row.get("id")
            batcher.reject(BadRow(line, row.get("kind") if row.get("kind") in KINDS else None,
                                str(ident) if isinstance(ident, (str, int)) else None, str(exc)))
            continue
        batcher.add(line, kind, values)
        if commit is not None and result.rows % (BATCH_SIZE * 10) == 0:
            batcher.flush()
            commit()
    batcher.flush()


def import_text(db: Database, text: str, *, suffix: str = ".ndjson", **kwargs) -> ImportResult:
    """Import from a string (tests and the demo); same path as a file."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
        name = tmp.name
    try:
        return import_file(db, Path(name), **kwargs)
    finally:
        Path(name).unlink(missing_ok=True)
