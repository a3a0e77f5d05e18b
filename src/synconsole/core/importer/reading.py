"""Reading an import file: NDJSON or CSV (by suffix, else by its first characters), streamed line
by line; each line becomes a row dict, or the :class:`RowError` saying why it is unreadable."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Any, Iterator

from synconsole.core.importer.fields import RowError
from synconsole.errors import UsageError, UserError

#: no row of the import format comes near this; a longer line is read past, not into memory
MAX_LINE_CHARS = 1024 * 1024


def open_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, row or the reason the line is unreadable), streaming the file."""
    try:
        # utf-8-sig: a BOM (Excel, Windows editors) is not part of the first row
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected an NDJSON or CSV file") from None
    except PermissionError:
        raise UsageError(f"{path}: not readable (permission denied)") from None
    with handle:
        fmt = _detect_format(path, handle)
        reader = _csv_rows if fmt == "csv" else _ndjson_rows
        try:
            yield from reader(handle)
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _detect_format(path: Path, handle: IO[str]) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    try:
        head = handle.read(4096)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    handle.seek(0)
    return "ndjson" if head.lstrip().startswith("{") else "csv"


def _lines(handle: IO[str]) -> Iterator[str | None]:
    """The file's lines; ``None`` for a line longer than :data:`MAX_LINE_CHARS`, which is read
    past in pieces instead of into memory."""
    while True:
        line = handle.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        if len(line) <= MAX_LINE_CHARS or line.endswith("\n"):
            yield line
            continue
        while line and not line.endswith("\n"):
            line = handle.readline(MAX_LINE_CHARS)
        yield None


def _ndjson_rows(handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    for number, line in enumerate(_lines(handle), start=1):
        if line is None:
            yield number, RowError(f"line longer than {MAX_LINE_CHARS} characters")
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(line.strip())
        except RecursionError:
            yield number, RowError("not valid JSON (nested too deeply)")
            continue
        except ValueError as exc:
            msg = getattr(exc, "msg", None)
            yield number, RowError(f"not valid JSON ({msg} at column {exc.colno})" if msg else
                                   f"not valid JSON ({str(exc)[:80]})")
            continue
        if not isinstance(value, dict):
            yield number, RowError("expected a JSON object")
            continue
        yield number, value


def _csv_rows(handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip().lstrip("\ufeff") for h in header]
    if "kind" not in header:
        raise UserError("CSV import needs a header row with a 'kind' column")
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv's limit (128 KB): that row only
            yield reader.line_num, RowError(f"a field longer than {csv.field_size_limit()} characters "
                                            f"({str(exc)[:60]})")
            continue
        number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield number, RowError(f"expected {len(header)} columns, got {len(cells)}")
            continue
        row: dict[str, Any] = {}
        for name, cell in zip(header, cells):
            cell = cell.strip()
            row[name] = None if cell == "" else cell
        yield number, row
