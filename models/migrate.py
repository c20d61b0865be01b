"""Schema migrations (Alembic): a fresh database is brought to the latest schema on first use;
an older one must be upgraded on purpose with `dondoc db upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_fresh(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names()) - {"apscheduler_jobs"}
    return not names


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply the migrations up to ``revision``; returns (before, after)."""
    before = current(engine)
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)
    return before, current(engine)


def autogenerate(engine: Engine, message: str) -> None:
    """For developers: write a new migration from the difference between the models and ``engine``."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
