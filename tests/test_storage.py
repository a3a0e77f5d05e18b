"""Storage: migrations, SQLite pragmas, unbounded error bodies, append-only audit, indexes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from synconsole.core import audit
from synconsole.core.db import current_revision, head_revision, open_database
from synconsole.core.models import AuditEvent, SyncAttempt
from synconsole.errors import UserError

from tests import factory
from tests.conftest import NOW

ATTENTION_INDEX = "ix_appointments_open_work"


def _without_expression_index_warnings(call):
    """SQLite cannot reflect the open-work index (an index on an expression) and says so each
    time; test_open_work_index_is_the_models_one compares that index instead."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expression-based index ix_appointments_open_work")
        warnings.filterwarnings("ignore", message=".*expression-based index 'ix_appointments_open_work'")
        return call()


def _text_search_object(name: str | None) -> bool:
    """Migration 0004's text index (FTS5 tables, pg_trgm indexes): tests/test_text_search.py."""
    return bool(name) and (name.startswith("appointments_text") or name.endswith("_trgm"))


def test_empty_database_is_upgraded_automatically(db):
    assert current_revision(db) == head_revision()
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"customers", "staff", "appointments", "sync_attempts", "audit_events", "audit_targets",
            "metric_snapshots", "alert_state", "alembic_version"} <= tables


def test_hot_query_indexes_exist(db):
    indexes = {ix["name"]: ix["column_names"]
               for ix in _without_expression_index_warnings(lambda: sa.inspect(db.engine).get_indexes("appointments"))}
    assert indexes["ix_appointments_due"] == ["sync_state", "next_retry_at"]
    assert indexes["ix_appointments_failed"][:3] == ["sync_state", "status", "category"]
    assert indexes["ix_appointments_category"] == ["category"]
    assert indexes["ix_appointments_start"] == ["start_at"]
    attempt_indexes = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("sync_attempts")}
    assert {"ix_sync_attempts_at", "ix_sync_attempts_appointment"} <= attempt_indexes


def test_sqlite_pragmas(sqlite_url):
    db = open_database(sqlite_url, busy_timeout_ms=7000)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    db.dispose()


def test_ten_megabyte_error_round_trips_unchanged(db):
    body = ('{"status":"error","error":{"message":"' + "é€x" * (10 * 1024 * 1024 // 3) + '"}}')
    assert len(body.encode()) > 10 * 1024 * 1024
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.appointment(s, "a1", start=NOW + timedelta(days=1))
        s.flush()
        factory.attempt(s, "a1", at=NOW, outcome="failed", status=400, message=body, body=body)
        s.commit()
    with db.session() as s:
        stored = s.exec(select(SyncAttempt)).one()
        assert stored.error_body == body
        assert stored.error_message == body


def test_audit_events_are_append_only(db):
    with db.session() as s:
        event = audit.record(s, actor="tester@host", action="retry", targets=["a1"], reason="because")
        s.commit()
        event_id = event.id
    for statement in (
        sa.update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == event_id).values(reason="rewritten"),
        sa.delete(AuditEvent.__table__).where(AuditEvent.__table__.c.id == event_id),
    ):
        with db.session() as s:
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                s.execute(statement)
                s.commit()
    with db.session() as s:
        assert s.get(AuditEvent, event_id).reason == "because"
        assert [e.id for e in audit.for_appointment(s, "a1")] == [event_id]


def test_foreign_keys_are_enforced(db):
    with db.session() as s:
        with pytest.raises(sa.exc.IntegrityError):
            factory.appointment(s, "orphan", start=NOW, customer_id="nobody", staff_id=None)


def test_db_upgrade_command(run_cli, sqlite_url):
    code, out, _ = run_cli("db", "upgrade", env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert code == 0 and out.strip() == f"schema upgraded: empty -> {head_revision()}"
    code, out, _ = run_cli("db", "upgrade", env={"SYNCONSOLE_DATABASE_URL": sqlite_url})
    assert code == 0 and out.strip() == f"schema already current ({head_revision()})"


def test_outdated_schema_is_refused_with_instructions(sqlite_url):
    db = open_database(sqlite_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    db.dispose()
    with pytest.raises(UserError, match=r"is at schema 0000, this synconsole needs .*: run `synconsole db upgrade`"):
        open_database(sqlite_url)


def test_foreign_database_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE appointments (id INTEGER)")
    engine.dispose()
    with pytest.raises(UserError, match="has tables but no synconsole schema version"):
        open_database(url)


def test_unreachable_database_is_one_clear_line(run_cli, tmp_path):
    code, out, err = run_cli("status", env={"SYNCONSOLE_DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/x.db"})
    assert code == 1
    assert err.strip() == f"synconsole: error: database directory does not exist: {tmp_path}/missing/dir"
    code, _, err = run_cli("status", env={"SYNCONSOLE_DATABASE_URL": "postgresql+psycopg://u:secretpw@127.0.0.1:1/x"})
    assert code == 1
    assert err.startswith("synconsole: error: cannot open database postgresql+psycopg://***@127.0.0.1:1/x")
    assert "secretpw" not in err and err.count("\n") == 1
    code, _, err = run_cli("status", env={"SYNCONSOLE_DATABASE_URL": "mysql://x/y"})
    assert code == 2 and "expected a sqlite:// or postgresql+psycopg:// URL" in err


def test_migrations_match_the_models(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": lambda name, kind, parent: not _text_search_object(name)})
        diff = _without_expression_index_warnings(lambda: compare_metadata(context, SQLModel.metadata))
    # alembic cannot compare an index on an expression (SQLite does not reflect it, PostgreSQL's
    # reflection spells it differently): the next test compares that one
    diff = [d for d in diff if not (d[0] in ("add_index", "remove_index") and d[1].name == ATTENTION_INDEX)]
    assert diff == []


def _index_sql(conn, name: str) -> str:
    if conn.dialect.name == "postgresql":
        sql = conn.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": name}).scalar_one()
    else:
        sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": name}).scalar_one()
    return "".join(c for c in sql.replace(name, "NAME") if c not in "() \n\t")


def test_open_work_index_is_the_models_one(db):
    """The migration spells the index out; the queries use the models' expressions. An index on
    an expression, or a partial one, only serves queries carrying those very expressions."""
    from synconsole.core.models import Appointment

    model = next(ix for ix in Appointment.__table__.indexes if ix.name == ATTENTION_INDEX)
    with db.engine.begin() as conn:
        sa.Index("ix_from_models", *model.expressions, **model.dialect_kwargs).create(conn)
        assert _index_sql(conn, "ix_from_models") == _index_sql(conn, ATTENTION_INDEX)


def test_open_work_pages_walk_the_open_work_index(sqlite_url):
    """The console's default view (open work, most urgent first) reads one page of keys off the
    open-work index in order instead of sorting every open appointment; paging on, too."""
    from synconsole.core import browse

    db = open_database(sqlite_url)
    statements = [
        browse.page_statement(sort="attention", open_only=True),
        browse.page_statement(sort="attention", open_only=True, after=(0, "a-1")),
        browse.page_statement(sort="attention", open_only=True, before=(3, "a-1")),
    ]
    with db.engine.connect() as conn:
        for stmt in statements:
            sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            # the page's keys: read off the index in order, no sort; the outer query orders one page
            keys = plan.split("SCAN page")[0]
            assert "COVERING INDEX ix_appointments_open_work" in keys and "TEMP B-TREE" not in keys, plan
    db.dispose()


def test_postgresql_can_serve_open_work_from_the_partial_index(pg_url):
    """PostgreSQL uses a partial index only when it can prove the query implies the index's
    condition: the open-work pages must say it in the same words. (Sequential scans off: on a
    small table the planner would rightly prefer them.)"""
    from synconsole.core import browse

    db = open_database(pg_url)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for stmt in (browse.page_statement(sort="attention", open_only=True),
                     browse.page_statement(sort="attention", open_only=True, after=(0, "a-1"))):
            compiled = stmt.compile(db.engine)
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
            assert "ix_appointments_open_work" in plan, plan
    db.dispose()


def test_downgrade_and_upgrade_again(db):
    from alembic import command

    from synconsole.core.db import _alembic_config, upgrade

    with db.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0001")
    assert current_revision(db) == "0001"
    assert ATTENTION_INDEX not in {ix["name"] for ix in sa.inspect(db.engine).get_indexes("appointments")}
    assert upgrade(db) == ("0001", head_revision())
    with db.engine.connect() as conn:
        assert _index_sql(conn, ATTENTION_INDEX)


def test_sqlite_planner_statistics_follow_the_table(sqlite_url):
    """ANALYZE when there are no statistics or the table changed size by a fifth; not otherwise."""
    from synconsole.core.db import refresh_planner_statistics
    from synconsole.core.importer import import_text

    db = open_database(sqlite_url)

    def stat_rows() -> int | None:
        with db.engine.connect() as conn:
            stat = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'appointments' ORDER BY idx LIMIT 1").scalar()
        return int(stat.split()[0]) if stat else None

    lines = ['{"kind": "customer", "id": "c-1", "name": "A", "email": "a@example.com"}']
    lines += [f'{{"kind": "appointment", "id": "a-{i}", "customer_id": "c-1", "start": "2025-12-01T10:00:00Z"}}'
              for i in range(1500)]
    assert import_text(db, "\n".join(lines) + "\n", now=NOW).ok  # an import analyzes what it wrote
    assert stat_rows() == 1500
    assert refresh_planner_statistics(db) is False  # nothing changed
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM appointments WHERE id > 'a-5'")
    assert refresh_planner_statistics(db) is True
    assert stat_rows() is not None and stat_rows() < 1500
    db.dispose()


def test_postgresql_keeps_its_own_statistics(pg_url):
    from synconsole.core.db import refresh_planner_statistics

    db = open_database(pg_url)
    assert refresh_planner_statistics(db, force=True) is False
    db.dispose()
