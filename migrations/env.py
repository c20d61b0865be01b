"""Alembic environment: dondoc's tables (SQLModel metadata), on the connection the caller hands in."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import models.store.tables  # noqa: F401  (registers the tables on the metadata)

target_metadata = SQLModel.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # APScheduler creates and owns its job table.
    return not (type_ == "table" and name == "apscheduler_jobs")


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata, include_object=include_object,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
