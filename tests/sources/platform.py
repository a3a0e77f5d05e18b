"""A booking platform's own database, Laravel style (the seed's is Laravel on MySQL): staff,
customers and appointments with created_at, updated_at and deleted_at, on MariaDB or PostgreSQL.
Tests write to it as the platform would, and synconsole reads it through [[sources]]."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

MYSQL_SCHEMA = [
    """CREATE TABLE staff (
        id CHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NULL,
        calcom_username VARCHAR(255) NULL, calcom_event_type_id INT UNSIGNED NULL,
        is_active TINYINT(1) NOT NULL DEFAULT 1,
        created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL, deleted_at TIMESTAMP NULL,
        KEY staff_updated_at_index (updated_at, id))""",
    """CREATE TABLE customers (
        id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255) NOT NULL,
        email VARCHAR(255) NULL, phone VARCHAR(255) NULL,
        created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL, deleted_at TIMESTAMP NULL,
        KEY customers_updated_at_index (updated_at, id))""",
    """CREATE TABLE appointments (
        id CHAR(36) PRIMARY KEY, customer_id BIGINT UNSIGNED NULL, staff_id CHAR(36) NULL,
        starts_at TIMESTAMP NOT NULL, ends_at TIMESTAMP NOT NULL,
        status VARCHAR(32) NOT NULL DEFAULT 'scheduled',
        created_at TIMESTAMP NULL, updated_at TIMESTAMP NULL, deleted_at TIMESTAMP NULL,
        KEY appointments_updated_at_index (updated_at, id))""",
]
POSTGRES_SCHEMA = [
    """CREATE TABLE staff (
        id CHAR(36) PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NULL,
        calcom_username VARCHAR(255) NULL, calcom_event_type_id INTEGER NULL,
        is_active BOOLEAN NOT NULL DEFAULT TRUE,
        created_at TIMESTAMP(0) NULL, updated_at TIMESTAMP(0) NULL, deleted_at TIMESTAMP(0) NULL)""",
    "CREATE INDEX staff_updated_at_index ON staff (updated_at, id)",
    """CREATE TABLE customers (
        id BIGSERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL, email VARCHAR(255) NULL, phone VARCHAR(255) NULL,
        created_at TIMESTAMP(0) NULL, updated_at TIMESTAMP(0) NULL, deleted_at TIMESTAMP(0) NULL)""",
    "CREATE INDEX customers_updated_at_index ON customers (updated_at, id)",
    """CREATE TABLE appointments (
        id CHAR(36) PRIMARY KEY, customer_id BIGINT NULL, staff_id CHAR(36) NULL,
        starts_at TIMESTAMP(0) NOT NULL, ends_at TIMESTAMP(0) NOT NULL,
        status VARCHAR(32) NOT NULL DEFAULT 'scheduled',
        created_at TIMESTAMP(0) NULL, updated_at TIMESTAMP(0) NULL, deleted_at TIMESTAMP(0) NULL)""",
    "CREATE INDEX appointments_updated_at_index ON appointments (updated_at, id)",
]

#: the [[sources]] queries for this schema, as README's "Connect your platform" shows them
MYSQL_QUERIES = {
    "staff": ("SELECT id, name, calcom_username, calcom_event_type_id AS event_type_id, "
              "(is_active = 1 AND deleted_at IS NULL) AS active, updated_at FROM staff WHERE updated_at >= :since"),
    "customers": "SELECT id, name, email, phone, updated_at FROM customers WHERE updated_at >= :since",
    "appointments": (
        "SELECT id, customer_id, staff_id, starts_at AS start, "
        "TIMESTAMPDIFF(MINUTE, starts_at, ends_at) AS duration_minutes, "
        "CASE WHEN deleted_at IS NOT NULL OR status IN ('cancelled', 'no_show') THEN 'cancelled' "
        "WHEN status = 'completed' THEN 'completed' ELSE 'scheduled' END AS status, updated_at "
        "FROM appointments WHERE updated_at >= :since"),
}
POSTGRES_QUERIES = {
    **MYSQL_QUERIES,
    "staff": ("SELECT id, name, calcom_username, calcom_event_type_id AS event_type_id, "
              "(is_active AND deleted_at IS NULL) AS active, updated_at FROM staff WHERE updated_at >= :since"),
    "appointments": MYSQL_QUERIES["appointments"].replace(
        "TIMESTAMPDIFF(MINUTE, starts_at, ends_at)", "CAST(EXTRACT(EPOCH FROM ends_at - starts_at) / 60 AS INTEGER)"),
}


class Platform:
    """The platform's database, written as the platform writes it (every write bumps updated_at)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.mysql = self.engine.dialect.name in ("mysql", "mariadb")
        self.queries = MYSQL_QUERIES if self.mysql else POSTGRES_QUERIES

    def create_schema(self) -> "Platform":
        with self.engine.connect() as conn:
            for ddl in MYSQL_SCHEMA if self.mysql else POSTGRES_SCHEMA:
                conn.exec_driver_sql(ddl)
        return self

    def run(self, sql: str, **params) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text(sql), params)

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def add_staff(self, name: str, username: str, event_type: int) -> str:
        ident = str(uuid.uuid4())
        self.run("INSERT INTO staff (id, name, calcom_username, calcom_event_type_id, created_at, updated_at) "
                 "VALUES (:id, :name, :u, :et, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                 id=ident, name=name, u=username, et=event_type)
        return ident

    def add_customer(self, name: str, email: str | None = None, phone: str | None = None) -> str:
        self.run("INSERT INTO customers (name, email, phone, created_at, updated_at) "
                 "VALUES (:n, :e, :p, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)", n=name, e=email, p=phone)
        return str(self.scalar("SELECT MAX(id) FROM customers"))

    def book(self, customer: str, staff: str | None, start: datetime, minutes: int = 30,
             ident: str | None = None) -> str:
        ident = ident or str(uuid.uuid4())
        self.run("INSERT INTO appointments (id, customer_id, staff_id, starts_at, ends_at, created_at, updated_at) "
                 "VALUES (:id, :c, :s, :start, :end, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                 id=ident, c=int(customer), s=staff, start=_naive(start), end=_naive(start, minutes))
        return ident

    def move(self, ident: str, start: datetime, minutes: int = 30) -> None:
        self.run("UPDATE appointments SET starts_at = :start, ends_at = :end, updated_at = CURRENT_TIMESTAMP "
                 "WHERE id = :id", id=ident, start=_naive(start), end=_naive(start, minutes))

    def reassign(self, ident: str, staff: str) -> None:
        self.run("UPDATE appointments SET staff_id = :s, updated_at = CURRENT_TIMESTAMP WHERE id = :id",
                 id=ident, s=staff)

    def soft_delete(self, ident: str) -> None:
        self.run("UPDATE appointments SET deleted_at = CURRENT_TIMESTAMP, updated_at = CURRENT_TIMESTAMP "
                 "WHERE id = :id", id=ident)

    def dispose(self) -> None:
        self.engine.dispose()


def _naive(start: datetime, plus_minutes: int = 0) -> datetime:
    """The platform stores UTC wall-clock times without an offset (Laravel's default)."""
    from datetime import UTC, timedelta

    return (start.astimezone(UTC) + timedelta(minutes=plus_minutes)).replace(tzinfo=None)
