"""The free-text term of the filter, answered by the database's own text index.

The meaning is one for every database: the term is a case-insensitive substring of the id, the
customer id, the staff id or the last error (``lower(coalesce(col, '')) LIKE '%term%'``). How it
is found differs:

- SQLite: the FTS5 table ``appointments_text`` (trigram tokenizer, migration 0004) holds those
  columns of the open work (the console's default scope), kept so by triggers on
  ``appointments``. An open row matches where its rowid is among the phrase's matches: a phrase
  of three characters or more matches exactly where it is a substring of one of the columns,
  case-insensitively (for every letter, where SQLite's own ``lower()`` folds only ASCII). Over the
  open work (the console's default) the index names the rows and nothing is scanned; other rows,
  and terms shorter than a trigram, are compared with LIKE.
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
    """``value`` (already lower case) is a substring of one of the text columns. ``open_work``:
    the query is over the open work only (see :func:`within_open_work`)."""

    inherit_cache = False
    type = sa.Boolean()
    #: a comparison in itself: without this SQLite's WHERE gets "… = 1", which hides the rowid IN
    #: from the planner (it then walks every open row)
    _is_implicitly_boolean = True

    def __init__(self, value: str, *, open_work: bool = False) -> None:
        self.value = value
        self.open_work = open_work


def within_open_work(condition):
    """``condition`` for a query that also says OPEN_WORK: its free-text terms then need no
    branch for the other rows, and SQLite answers them from the text index alone (the rows it
    names, nothing scanned)."""
    from sqlalchemy.sql.visitors import replacement_traverse

    def narrow(element):
        if isinstance(element, TextContains) and not element.open_work:
            return TextContains(element.value, open_work=True)
        return None

    return replacement_traverse(condition, {}, narrow)


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
    from synconsole.core.models import ATTENTION_STATES, Appointment

    likes = like_condition(element.value)
    if len(element.value) < MIN_TRIGRAM:
        return compiler.process(sa.and_(likes).self_group(), **kw)
    state = Appointment.__table__.c.sync_state
    is_open = state.in_([sa.literal_column(f"'{s}'") for s in ATTENTION_STATES])
    matches = (
        sa.select(sa.literal_column("rowid"))
        .select_from(sa.table(FTS_TABLE))
        .where(sa.literal_column(FTS_TABLE).op("MATCH")(sa.bindparam(None, _fts_phrase(element.value))))
    )
    indexed = sa.literal_column("appointments.rowid").in_(matches)
    if element.open_work:
        return compiler.process(indexed, **kw)
    # an open row is in the index exactly; any other is compared with LIKE
    cond = sa.or_(sa.and_(is_open, indexed), sa.and_(sa.not_(is_open), likes))
    return compiler.process(cond.self_group(), **kw)
