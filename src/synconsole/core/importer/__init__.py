"""Import staff, customers and appointments from NDJSON or CSV (contract.md, "Import format").

The file is streamed: rows are validated one at a time and upserted by ``(kind, id)`` in batches,
so a million appointments never sit in memory. A bad row is reported with its line number and
reason and skipped; the good rows land.

:mod:`.fields` holds the format (kinds, fields, limits, :class:`RowError`), :mod:`.reading` the
NDJSON and CSV readers, :mod:`.validation` the check of one row, :mod:`.writing` the batched
upserts, :mod:`.result` what an import reports, and :mod:`.pipeline` the one path through them.
"""

from synconsole.core.importer.fields import (
    FIELDS,
    KINDS,
    MAX_BOOKING_UID_LENGTH,
    MAX_CALCOM_ID,
    MAX_DURATION_MINUTES,
    MAX_ID_LENGTH,
    RowError,
)
from synconsole.core.importer.pipeline import DEFAULT_ANONYMOUS_PATTERN, import_file, import_rows, import_text
from synconsole.core.importer.reading import MAX_LINE_CHARS, open_rows
from synconsole.core.importer.result import BadRow, ImportResult, KindCounts
from synconsole.core.importer.validation import validate
from synconsole.core.importer.writing import BATCH_SIZE

__all__ = [
    "BATCH_SIZE", "DEFAULT_ANONYMOUS_PATTERN", "FIELDS", "KINDS", "MAX_BOOKING_UID_LENGTH", "MAX_CALCOM_ID",
    "MAX_DURATION_MINUTES", "MAX_ID_LENGTH", "MAX_LINE_CHARS", "BadRow", "ImportResult", "KindCounts", "RowError",
    "import_file", "import_rows", "import_text", "open_rows", "validate",
]
