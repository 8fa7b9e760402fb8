"""Alembic's entry point: migrate the connection handed over by `chatbot.migrations.config`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from chatbot.db import metadata

connection = context.config.attributes.get("connection")


def run(conn) -> None:
    # render_as_batch: SQLite alters tables by copying them, which batch mode does for us.
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:  # used by `command.revision(..., autogenerate=True)` from a shell
    from chatbot.config import Settings

    with create_engine(Settings().effective_database_url).begin() as conn:
        run(conn)
