"""Alembic environment: runs on the connection synconsole hands it (see core/db.py)."""

from alembic import context
from sqlmodel import SQLModel

import synconsole.core.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        import sqlalchemy as sa

        url = context.config.get_main_option("sqlalchemy.url")
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("synconsole migrations run online only: use `synconsole db upgrade`")
run_migrations_online()
