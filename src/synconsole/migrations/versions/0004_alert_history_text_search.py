"""alert history and free-text search: the alert_events table; the free-text filter's own index.

- ``alert_events``: every fired / resolved / acknowledged transition of an alert (append-only).
- SQLite: ``appointments_text``, an FTS5 table (trigram tokenizer: substring search) holding the
  columns the free-text filter reads (id, customer_id, staff_id, last_error) of the *open work*
  (failed, retrying, in flight, pending: the console's default scope, a few percent of the table),
  under the appointment's rowid. Triggers on ``appointments`` keep it so: a row is in it exactly
  while it is open work. Over every appointment, the filter compares the other rows with LIKE.
- PostgreSQL: ``pg_trgm`` GIN indexes on the very expressions the filter compares
  (``lower(coalesce(col, ''))``), maintained by PostgreSQL itself. Without the extension (no
  privilege to create it) the indexes are left out: the filter still works, unindexed.

The FTS rows are keyed by the appointments' rowids, which VACUUM keeps. A later migration that
rebuilds the appointments table in batch mode (SQLite) drops these triggers with the old table and
renumbers its rows: it must create the triggers again and refill the index (:data:`SQLITE_TRIGGERS`,
:data:`SQLITE_FILL`). ``tests/test_text_search.py`` checks the index against the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

#: what the free-text filter reads (synconsole.core.textsearch.TEXT_COLUMNS; a test compares them)
COLUMNS = ("id", "customer_id", "staff_id", "last_error")
#: synconsole.core.models.OPEN_WORK in the words of a trigger (a test compares them)
OPEN = "sync_state IN ('failed', 'retry_scheduled', 'in_flight', 'pending')"
FTS = "appointments_text"
_cols = ", ".join(COLUMNS)
_new = ", ".join(f"new.{c}" for c in COLUMNS)
SQLITE_TABLE = f"CREATE VIRTUAL TABLE {FTS} USING fts5({_cols}, tokenize='trigram')"
SQLITE_FILL = f"INSERT INTO {FTS}(rowid, {_cols}) SELECT rowid, {_cols} FROM appointments WHERE {OPEN}"
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON appointments WHEN new.{OPEN} BEGIN "
    f"INSERT INTO {FTS}(rowid, {_cols}) VALUES (new.rowid, {_new}); END",
    f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON appointments BEGIN "
    f"DELETE FROM {FTS} WHERE rowid = old.rowid; END",
    f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF {_cols}, sync_state ON appointments BEGIN "
    f"DELETE FROM {FTS} WHERE rowid = old.rowid; "
    f"INSERT INTO {FTS}(rowid, {_cols}) SELECT new.rowid, {_new} WHERE new.{OPEN}; END",
)
PG_INDEXES = {f"ix_appointments_{c}_trgm": f"lower(COALESCE({c}, ''))" for c in COLUMNS}


def upgrade() -> None:
    op.create_table(
        'alert_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('severity', sa.String(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_alert_events_alert_id', 'alert_events', ['alert_id'], unique=False)
    op.create_index('ix_alert_events_at', 'alert_events', ['at'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_text_index(bind)
    elif bind.dialect.name == "postgresql":
        _postgres_text_index(bind)


def _sqlite_text_index(bind) -> None:
    version = tuple(int(p) for p in bind.exec_driver_sql("SELECT sqlite_version()").scalar().split(".")[:2])
    if version < (3, 34):
        raise RuntimeError(f"synconsole needs SQLite 3.34 or newer (FTS5 with the trigram tokenizer); "
                           f"this Python has SQLite {'.'.join(map(str, version))}")
    op.execute(SQLITE_TABLE)
    op.execute(SQLITE_FILL)
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)


def _postgres_text_index(bind) -> None:
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first()
    if available is None:
        return
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:  # no privilege to create it: the filter works without the index
        savepoint.rollback()
        return
    savepoint.commit()
    for name, expression in PG_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON appointments USING gin (({expression}) gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for suffix in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    elif bind.dialect.name == "postgresql":
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index('ix_alert_events_at', table_name='alert_events')
    op.drop_index('ix_alert_events_alert_id', table_name='alert_events')
    op.drop_table('alert_events')
