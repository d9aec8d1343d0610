"""Alembic environment: runs on the connection store.engine.migrate hands it (write-locked)."""

from alembic import context
from sqlmodel import SQLModel

from store import models  # noqa: F401  (the tables)

config = context.config
target_metadata = SQLModel.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` on the command line: connect from the settings
        from sqlalchemy import create_engine

        from store.settings import Settings

        connection = create_engine(Settings().db_url).connect()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


run()
