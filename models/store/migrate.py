"""Schema migrations (Alembic): a fresh database is brought to the latest schema on first use;
an older one must be upgraded on purpose with `dondoc db upgrade`.

Alembic is imported only to migrate or to answer a question the migration
files alone cannot: every command opens the database, and checking that it
is at the head revision must not cost a command that only reads the start-up
of Alembic (about 0.2 s here).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_REVISION = re.compile(r"^revision(?:\s*:\s*[\w\[\], |]+)?\s*=\s*['\"]([0-9A-Za-z_]+)['\"]\s*$", re.MULTILINE)
_DOWN = re.compile(r"^down_revision(?:\s*:\s*[\w\[\], |]+)?\s*=\s*(?:None|['\"]([0-9A-Za-z_]+)['\"])\s*$", re.MULTILINE)


def _config(connection=None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


@lru_cache(maxsize=1)
def head_from_files() -> str | None:
    """The head revision read from the migration files' ``revision`` and ``down_revision`` lines, without Alembic.

    None when the files hold anything but one plain chain (a merge, a branch,
    a line written another way): then only Alembic can tell, and callers ask it.
    """
    parents: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        if path.name.startswith("_"):  # __init__.py
            continue
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(text), _DOWN.findall(text)
        if len(revision) != 1 or len(down) != 1 or revision[0] in parents:
            return None
        parents[revision[0]] = down[0] or None
    heads = set(parents) - set(parents.values())
    roots = [r for r, down in parents.items() if down is None]
    if len(heads) != 1 or len(roots) != 1 or any(d is not None and d not in parents for d in parents.values()):
        return None
    return heads.pop()


def stored_revisions(engine: Engine) -> list[str] | None:
    """The revisions stamped in ``alembic_version`` (one query, no Alembic); None when that table cannot be read.

    A failure to connect is raised as usual: only the query's own failure
    (no such table: a fresh or a foreign database) means "ask Alembic".
    """
    with engine.connect() as connection:
        try:
            return [row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")]
        except DBAPIError:
            return None


def at_head(engine: Engine) -> bool:
    """Whether ``engine``'s database is certainly at the head revision, told without importing Alembic.

    False means "not known": the caller then takes the full check (fresh
    database, migration, refusal), exactly as before.
    """
    latest = head_from_files()
    return latest is not None and stored_revisions(engine) == [latest]


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_fresh(engine: Engine) -> bool:
    from sqlalchemy import inspect

    names = set(inspect(engine).get_table_names()) - {"apscheduler_jobs"}
    return not names


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply the migrations up to ``revision``; returns (before, after)."""
    from alembic import command

    before = current(engine)
    _migrate(engine, lambda config: command.upgrade(config, revision))
    return before, current(engine)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (for developers and the migrations' own tests)."""
    from alembic import command

    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, run) -> None:
    """Run ``run(config)`` in one transaction, on SQLite with foreign keys checked at the end instead of at each step."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a column by rebuilding its table (Alembic's batch mode), and dropping the old copy
            # fails while other tables' foreign keys point at it. SQLite's own procedure: enforcement off (it
            # cannot change inside a transaction), rebuild, check every key, enforcement on.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                run(_config(connection))
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left a foreign key pointing at nothing; nothing was changed")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def autogenerate(engine: Engine, message: str) -> None:
    """For developers: write a new migration from the difference between the models and ``engine``."""
    from alembic import command

    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)
