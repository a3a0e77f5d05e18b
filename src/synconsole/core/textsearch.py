"""The free-text term of the filter, answered by the database's own text index.

The meaning is one for every database: the term is a case-insensitive substring of the id, the
customer id, the staff id or the last error (``lower(coalesce(col, '')) LIKE '%term%'``). How it
is found differs:

- SQLite: the FTS5 table ``appointments_text`` (trigram tokenizer, kept up to date by triggers on
  ``appointments``, migration 0004) names the rows: a phrase of three characters or more matches
  exactly where it is a substring of one of the columns, case-insensitively (for every letter,
  where SQLite's own ``lower()`` folds only ASCII). Its rowids are checked against the open-work
  index's entries, so a filtered page reads no row it does not show. Shorter terms, which a
  trigram index cannot answer, are compared with LIKE.
- PostgreSQL: the same LIKE, which ``pg_trgm`` GIN indexes on those very expressions serve.

Reading a million rows' last errors for one keystroke is what this avoids.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

#: what free text searches (migration 0004 indexes exactly these)
TEXT_COLUMNS = ("id", "customer_id", "staff_id", "last_error")
FTS_TABLE = "appointments_text"
MIN_TRIGRAM = 3


class TextContains(ColumnElement):
    """``value`` (already lower case) is a substring of one of the text columns."""

    inherit_cache = False
    type = sa.Boolean()

    def __init__(self, value: str) -> None:
        self.value = value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_condition(value: str):
    """The definition: an OR of one LIKE per column (the '' is literal, so PostgreSQL matches the
    expression of its trigram indexes)."""
    from synconsole.core.models import Appointment

    table = Appointment.__table__
    pattern = "%" + _escape_like(value) + "%"
    columns = [sa.func.lower(sa.func.coalesce(table.c[name], sa.literal_column("''"))) for name in TEXT_COLUMNS]
    return sa.or_(*(col.like(pattern, escape="\\") for col in columns))


def _fts_phrase(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@compiles(TextContains)
def _compile_default(element: TextContains, compiler, **kw) -> str:
    return compiler.process(sa.and_(like_condition(element.value)).self_group(), **kw)


@compiles(TextContains, "sqlite")
def _compile_sqlite(element: TextContains, compiler, **kw) -> str:
    if len(element.value) < MIN_TRIGRAM:
        return compiler.process(sa.and_(like_condition(element.value)).self_group(), **kw)
    matches = (
        sa.select(sa.literal_column("rowid"))
        .select_from(sa.table(FTS_TABLE))
        .where(sa.literal_column(FTS_TABLE).op("MATCH")(sa.bindparam(None, _fts_phrase(element.value))))
    )
    return compiler.process(sa.literal_column("appointments.rowid").in_(matches), **kw)
