"""Engine and sessions, SQLite pragmas, and the migrations entry point.

SQLite runs in WAL mode with a busy timeout and foreign keys on, and we issue ``BEGIN`` ourselves
(the SQLAlchemy recipe for pysqlite) so a writer can ask for ``BEGIN IMMEDIATE``: the claim of a
batch must take the write lock up front instead of failing half way with "database is locked".
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from synconsole.config import mask_url
from synconsole.errors import ConfigError, UserError


class DatabaseFault(UserError):
    """The database cannot do what was asked: locked too long, disk full, damaged, gone. One line,
    exit 1; what was not written is retried (a claim in flight is looked up after its lease)."""


class DatabaseGone(DatabaseFault):
    """The SQLite file this process opened was deleted or replaced while it ran."""


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
    #: SQLite has one writer at a time; the threads of this process queue for it here instead of
    #: in SQLite's busy handler, which polls with sleeps of up to 100 ms (other processes still do)
    _writer: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

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
        if not self.is_sqlite:
            with Session(self.engine, expire_on_commit=False) as s:
                yield s
            return
        with self._writer, Session(self.engine.execution_options(sqlite_begin="IMMEDIATE"),
                                   expire_on_commit=False) as s:
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


class _FileIdentity:
    """Which file a SQLite engine opened (device and inode). A database deleted or replaced under
    a running console would otherwise go unnoticed: its connections keep writing to the unlinked
    file, and the next command creates an empty one at the same path."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.expected: tuple[int, int] | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def remember(self) -> None:
        if self.path is not None:
            self.expected = self._stat()

    def check(self) -> None:
        if self.expected is None:
            return
        now = self._stat()
        if now != self.expected:
            what = "was deleted" if now is None else "was replaced by another file"
            # the words first, the path last: a header one line wide still says what happened
            raise DatabaseGone(f"the database file {what} while synconsole was running; nothing more is written. "
                               f"Restore it, or restart synconsole to use the new one: {self.path}")


def _sqlite_engine(parsed, busy_timeout_ms: int) -> Engine:
    database = parsed.database or ""
    path = None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser().resolve()
        if not path.parent.exists():
            raise UserError(f"database directory does not exist: {path.parent}")
    engine = sa.create_engine(parsed, future=True, connect_args={"timeout": busy_timeout_ms / 1000})
    identity = _FileIdentity(path)
    engine.dialect.synconsole_identity = identity  # type: ignore[attr-defined]

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
        identity.check()
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
    except UserError:
        engine.dispose()
        raise
    identity = getattr(engine.dialect, "synconsole_identity", None)
    if identity is not None:
        identity.remember()
    return db


def fault(exc: BaseException, url: str | None = None) -> DatabaseFault | None:
    """The one line for a database error a user can act on, or None if ``exc`` is not one.
    Every face (CLI, job host) says these the same way."""
    if isinstance(exc, DatabaseFault):
        return exc
    if not isinstance(exc, SQLAlchemyError):
        return None
    reason = _reason(exc)
    low = reason.lower()
    where = f"database {redact_url(url)}" if url else "the database"
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    if "database or disk is full" in low or "no space left" in low or sqlstate == "53100":
        return DatabaseFault(f"{where}: the disk is full ({reason}); nothing was lost that is not retried: "
                             "free space and run again (claims in flight are looked up after their lease)")
    if "database is locked" in low or "database table is locked" in low or sqlstate in ("55P03", "40P01"):
        return DatabaseFault(f"{where}: locked by another process for longer than [database] busy_timeout_ms "
                             f"({reason}); try again, or find the process holding it")
    if "malformed" in low or "file is not a database" in low or "disk i/o error" in low or sqlstate == "XX001":
        return DatabaseFault(f"{where}: damaged ({reason}); run `synconsole doctor`, and restore it from a "
                             "backup")
    if isinstance(exc, OperationalError):  # a lost connection, a read-only file…; other errors are bugs
        return DatabaseFault(f"{where}: {_scrub_credentials(reason, url) if url else reason}")
    return None


def integrity_problem(db: Database) -> str | None:
    """SQLite's own check of every page and index (``PRAGMA integrity_check``), or None if the
    file is sound (PostgreSQL checks its pages itself)."""
    if not db.is_sqlite:
        return None
    try:
        with db.engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check(5)")]
    except SQLAlchemyError as exc:
        return _reason(exc)
    if rows == ["ok"]:
        return None
    return " ".join("; ".join(str(r) for r in rows).split())[:300]


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


def _refuse_unknown(db: Database, current: str | None) -> None:
    """A revision this synconsole does not know. One after our newest was written by a newer
    synconsole: no migration of ours can go from there, and upgrading synconsole is the fix."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    if current is None:
        return
    try:
        known = ScriptDirectory.from_config(_alembic_config()).get_revision(current) is not None
    except CommandError:
        known = False
    if known:
        return
    head = head_revision()
    if current > head:  # revisions are numbered 0001, 0002, …
        raise UserError(
            f"database {redact_url(db.url)} is at schema {current}, newer than this synconsole knows (its newest "
            f"is {head}): it was written by a newer synconsole. Upgrade synconsole (pip install -U synconsole); "
            "`synconsole db upgrade` cannot go back"
        )
    raise UserError(f"database {redact_url(db.url)} is at schema {current}, which is not a synconsole schema "
                    f"version this synconsole knows (it needs {head}); point [database] url at a synconsole database")


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations; returns (from, to)."""
    from alembic import command

    before = current_revision(db)
    _refuse_unknown(db, before)
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
    if current > head:
        _refuse_unknown(db, current)
    raise UserError(
        f"database {redact_url(db.url)} is at schema {current}, this synconsole needs {head}: "
        "run `synconsole db upgrade`"
    )


def open_existing(url: str, *, busy_timeout_ms: int = 10000) -> Database:
    """For a read-only synconsole: open a database that already holds the synconsole schema, and
    create or upgrade nothing (a missing SQLite file is not created, an empty server database
    is not given tables)."""
    from synconsole.errors import ReadOnlyError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not os.path.exists(path):
            raise ReadOnlyError(f"refused: database {redact_url(url)} does not exist and synconsole is read-only "
                                "(nothing was created)")
    db = open_database(url, busy_timeout_ms=busy_timeout_ms, upgrade_empty=False)
    try:
        current = current_revision(db)
    except SQLAlchemyError:
        current = None
    if current is None:
        db.dispose()
        raise ReadOnlyError(f"refused: database {redact_url(url)} has no synconsole schema and synconsole is "
                            "read-only (nothing was created)")
    return db
