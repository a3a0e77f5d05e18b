"""Free text in the filter, through the database's own text index (migration 0004): the same
matches as the plain LIKE definition on both databases, the index kept up to date by every write,
and the query plans that use it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from synconsole.core import browse, filters, textsearch
from synconsole.core.models import Appointment

from tests import factory
from tests.conftest import NOW

TERMS = ["a-99", "A-99", "host", "booking core", "s-1b", "c-7", "%", "_", "1", "ab", "x\"y", "a-9",
         "no usable contact", "zzz-none", "749", "100% garbage_here"]


@pytest.fixture
def texts(db):
    with db.session() as s:
        factory.staff(s, "s-1")
        factory.staff(s, "s-1b")
        for c in ("c-7", "c-77", "c-8"):
            factory.customer(s, c)
        rows = [("a-99", "c-7", "s-1", "User either already has booking at this time or is not available"),
                ("a-990", "c-77", "s-1b", "Unexpected response from booking core"),
                ("a-9", "c-8", None, "No staff assigned"),
                ("749", "c-7", "s-1", "<html>HOST sent 100% garbage_here ÜNÏCODE x\"y</html>"),
                ("b-1", "c-8", "s-1", None),
                ("b-2", "c-8", "s-1b", "Customer c-8 has no usable contact: no email")]
        for i, (appt_id, customer, staff, error) in enumerate(rows):
            if error is None:
                factory.appointment(s, appt_id, start=NOW + timedelta(hours=i), customer_id=customer, staff_id=staff)
            else:
                factory.failed(s, appt_id, category="unknown", first_failed_at=NOW, start=NOW + timedelta(hours=i),
                               customer_id=customer, staff_id=staff, message=error)
        s.commit()
    return db


def _ids(db, condition) -> list[str]:
    with db.session() as s:
        return sorted(s.execute(sa.select(Appointment.id).where(condition)).scalars())


def test_free_text_matches_what_like_matches(texts):
    """For ASCII text, exactly the LIKE definition, on both databases."""
    for term in TERMS:
        value = term.lower()
        assert _ids(texts, textsearch.TextContains(value)) == _ids(texts, textsearch.like_condition(value)), term
        if '"' in term:  # the filter language has no way to quote a quote
            continue
        # and through the filter language, negated too
        assert _ids(texts, filters.parse(f'"{term}"').condition(NOW)) == _ids(texts, textsearch.like_condition(value))
        every = _ids(texts, sa.true())
        negated = _ids(texts, filters.parse(f'-"{term}"').condition(NOW))
        assert negated == sorted(set(every) - set(_ids(texts, textsearch.like_condition(value)))), term
    assert _ids(texts, textsearch.TextContains("a-99")) == ["a-99", "a-990"]
    if texts.is_sqlite:  # the trigram index folds every letter's case, where lower() folds only ASCII
        assert _ids(texts, textsearch.TextContains("ünïcode")) == ["749"]
    assert _ids(texts, textsearch.TextContains("host")) == ["749"]
    assert _ids(texts, textsearch.TextContains("booking")) == ["a-99", "a-990"]


def test_the_index_follows_every_write(texts):
    with texts.write() as s:
        a = s.get(Appointment, "b-1")
        a.last_error = "Attempting to book a meeting in the past."  # the sync records a failure
        s.add(a)
        s.execute(sa.update(Appointment.__table__).where(Appointment.__table__.c.id == "a-990")
                  .values(last_error=None, staff_id="s-1"))  # a success clears it
        s.commit()
    assert _ids(texts, textsearch.TextContains("meeting in the past")) == ["b-1"]
    assert _ids(texts, textsearch.TextContains("booking core")) == []
    assert _ids(texts, textsearch.TextContains("s-1b")) == ["b-2"]
    with texts.write() as s:
        s.execute(sa.delete(Appointment.__table__).where(Appointment.__table__.c.id == "b-1"))
        s.commit()
    assert _ids(texts, textsearch.TextContains("meeting in the past")) == []
    if texts.is_sqlite:  # FTS5 checks its index against the content table
        with texts.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO appointments_text(appointments_text, rank) VALUES ('integrity-check', 1)")


def _migration():
    import importlib

    return importlib.import_module("synconsole.migrations.versions.0004_alert_history_text_search")


def test_the_migration_indexes_the_columns_the_filter_reads_of_the_open_work():
    from synconsole.core.models import ATTENTION_STATES

    migration = _migration()
    assert migration.COLUMNS == textsearch.TEXT_COLUMNS
    assert migration.OPEN == "sync_state IN (" + ", ".join(f"'{s}'" for s in ATTENTION_STATES) + ")"


def test_sqlite_indexes_exactly_the_open_work(sqlite_url):
    from synconsole.core.db import open_database

    db = open_database(sqlite_url)
    with db.session() as s:
        factory.staff(s, "s1")
        factory.customer(s, "c1")
        factory.appointment(s, "p-1", start=NOW)  # pending: open
        factory.appointment(s, "s-9", start=NOW, sync_state="synced", booking_uid="u-9")  # booked: not open
        factory.failed(s, "f-1", category="unknown", first_failed_at=NOW, start=NOW, message="proxy error")
        s.commit()

    def indexed() -> set[str]:
        with db.engine.connect() as conn:
            return set(conn.exec_driver_sql("SELECT id FROM appointments_text").scalars())

    def match(term: str) -> list[str]:
        with db.session() as s:
            return sorted(s.execute(sa.select(Appointment.id).where(textsearch.TextContains(term))).scalars())

    assert indexed() == {"p-1", "f-1"}
    with db.write() as s:  # the failure is booked after all: it leaves the open work
        s.execute(sa.update(Appointment.__table__).where(Appointment.__table__.c.id == "f-1")
                  .values(sync_state="synced", booking_uid="u-1"))
        s.execute(sa.update(Appointment.__table__).where(Appointment.__table__.c.id == "s-9")
                  .values(sync_state="pending", last_error="moved in cal.com"))  # and this one comes back
        s.commit()
    assert indexed() == {"p-1", "s-9"}
    assert match("proxy error") == ["f-1"]  # not open any more: found by LIKE, over every appointment
    assert match("moved in cal") == ["s-9"]
    assert match("s-9") == ["s-9"] and match("p-1") == ["p-1"]
    db.dispose()


def test_sqlite_finds_free_text_through_the_trigram_index(sqlite_url):
    from synconsole.core.db import open_database

    db = open_database(sqlite_url)
    stmt = browse.page_statement(condition=filters.parse("a-99").condition(NOW), sort="attention", open_only=True)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    with db.engine.connect() as conn:
        plan = " | ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "VIRTUAL TABLE INDEX" in plan and "appointments_text" in plan, plan
    # over the open work the index names the rows: they are looked up by rowid, none is scanned
    keys = plan.split("SCAN page")[0]
    assert "USING INTEGER PRIMARY KEY (rowid=?)" in keys and "ix_appointments_open_work" not in keys, plan
    db.dispose()


def test_postgresql_serves_free_text_from_its_trigram_indexes(pg_url):
    from synconsole.core.db import open_database

    db = open_database(pg_url)
    with db.engine.connect() as conn:
        names = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE indexname LIKE :p"),
                                 {"p": "%\\_trgm"}).scalars())
        assert names == {f"ix_appointments_{c}_trgm" for c in textsearch.TEXT_COLUMNS}
        conn.exec_driver_sql("SET enable_seqscan = off")
        stmt = sa.select(Appointment.id).where(filters.parse("a-99").condition(NOW))
        compiled = stmt.compile(db.engine)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params))
    assert "ix_appointments_last_error_trgm" in plan and "ix_appointments_id_trgm" in plan, plan
    db.dispose()
