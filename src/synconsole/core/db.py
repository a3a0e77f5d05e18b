"""Engine and sessions, SQLite pragmas, and the migrations entry point.

SQLite runs in WAL mode with a busy timeout and foreign keys on, and we issue ``BEGIN`` ourselves
(the SQLAlchemy recipe for pysqlite) so a writer can ask for ``BEGIN IMMEDIATE``: the claim of a
batch must take the write lock up front instead of failing half way with "database is locked".
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from synconsole.config import mask_url
from synconsole.errors import ConfigError, UserError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def redact_url(url: str) -> str:
    """The URL without its userinfo (user and password: either may be a token), for messages."""
    return mask_url(url)


def _scrub_credentials(text: str, url: str) -> str:
    """A driver's message may quote the user name or password back ("role … does not exist")."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return text
    for secret in (parsed.password, parsed.username):
        if secret and len(str(secret)) >= 3:
            text = text.replace(str(secret), "***")
    return text


@dataclass
class Database:
    url: str
    engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock at once on SQLite (BEGIN IMMEDIATE)."""
        with Session(self.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False) as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def create_db_engine(url: str, *, busy_timeout_ms: int = 10000) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"[database] url: expected a SQLAlchemy URL like sqlite:///path/to.db, "
                          f"got \"{redact_url(url)}\"") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"[database] url: expected a sqlite:// or postgresql+psycopg:// URL, got {backend}://")
    if backend == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms)
    try:
        return sa.create_engine(parsed, pool_pre_ping=True, future=True)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"[database] url: PostgreSQL needs the driver: pip install 'synconsole[postgres]' ({exc.name} missing)"
        ) from None


def _sqlite_engine(parsed, busy_timeout_ms: int) -> Engine:
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).expanduser().resolve().parent
        if not parent.exists():
            raise UserError(f"database directory does not exist: {parent}")
    engine = sa.create_engine(parsed, future=True, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see module docstring
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if database not in ("", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def open_database(url: str, *, busy_timeout_ms: int = 10000, upgrade_empty: bool = True) -> Database:
    """Connect, and bring an empty database to the current schema; refuse an outdated one."""
    engine = create_db_engine(url, busy_timeout_ms=busy_timeout_ms)
    db = Database(url=url, engine=engine)
    try:
        if upgrade_empty:
            ensure_schema(db)
        else:
            with engine.connect():
                pass
    except SQLAlchemyError as exc:
        engine.dispose()
        raise UserError(f"cannot open database {redact_url(url)}: "
                        f"{_scrub_credentials(_reason(exc), url)}") from None
    return db


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def row_for_update(session: Session, model, row_id: str, **defaults):
    """The row ``row_id`` of ``model``, created with ``defaults`` if missing and locked for this
    transaction. Several processes may do this at once: the insert is ON CONFLICT DO NOTHING,
    then the row is read FOR UPDATE (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = session.get_bind().dialect.name
    insert = (sqlite_insert if dialect == "sqlite" else pg_insert)(model.__table__)
    session.execute(insert.values(id=row_id, **defaults).on_conflict_do_nothing(index_elements=["id"]))
    stmt = sa.select(model).where(model.id == row_id)
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one()


# --- migrations ---------------------------------------------------------------------------------


def _alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def refresh_planner_statistics(db: Database, *, force: bool = False) -> bool:
    """SQLite plans queries from statistics that only ANALYZE writes. Without them, or with
    statistics from when the table was a tenth of its size, it may walk the wrong index over a
    million rows. Re-analyze when the appointments table has changed size by a fifth or more
    (about a second for a million rows); PostgreSQL's autovacuum keeps its own statistics."""
    if not db.is_sqlite:
        return False
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM appointments").scalar_one()
        known = None
        has_stats = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").first()
        if has_stats:
            stat = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'appointments' ORDER BY idx LIMIT 1").scalar()
            known = int(stat.split()[0]) if stat else None
    if not force and known is not None and abs(rows - known) <= max(known, 1000) / 5:
        return False
    with db.engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return True


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations; returns (from, to)."""
    from alembic import command

    before = current_revision(db)
    # BEGIN IMMEDIATE on SQLite: a deferred transaction that reads and then writes fails at once
    # with "database is locked" when another process is creating the schema at that moment
    with db.engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        if db.is_postgres:  # several processes may start on one empty database at once
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
        command.upgrade(_alembic_config(conn), revision)
    return before, current_revision(db) or ""


def ensure_schema(db: Database) -> None:
    head = head_revision()
    current = current_revision(db)
    if current == head:
        return
    if current is None:
        tables = set(sa.inspect(db.engine).get_table_names())
        if tables & {"appointments", "customers", "staff"}:
            raise UserError(
                f"database {redact_url(db.url)} has tables but no synconsole schema version; "
                "point [database] url at a synconsole database"
            )
        try:
            upgrade(db)
        except OperationalError:
            # another process upgraded the empty database at the same moment
            if current_revision(db) != head:
                raise
        return
    raise UserError(
        f"database {redact_url(db.url)} is at schema {current}, this synconsole needs {head}: "
        "run `synconsole db upgrade`"
    )
