"""Engines and sessions. Nothing connects at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session as _Session
from sqlmodel import Session, create_engine

from models.store import migrate
from models.errors import ConfigError, DatabaseUnavailable
from models.settings import Settings, get_settings
from models.store.tables import Event, use_dialect


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL for the life of the process."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):  # the driver dondoc ships with is psycopg 3
            url = "postgresql+psycopg://" + url[len(plain):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa_event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    else:
        engine = create_engine(url, pool_pre_ping=True)
    use_dialect(engine.dialect.name)
    return engine


_ready: set[str] = set()


def open_database(url: str) -> Engine:
    """The engine for ``url``, its schema checked once per process.

    A fresh database gets the whole schema (so the defaults work with nothing
    configured); an existing one must already be at the latest migration.
    """
    engine = get_engine(url)
    if url in _ready:
        return engine
    try:
        if migrate.at_head(engine):  # the usual case, told with one query and without Alembic
            _ready.add(url)
            return engine
        if migrate.is_fresh(engine):
            try:
                migrate.upgrade(engine)
            except (OperationalError, ProgrammingError, IntegrityError):
                pass  # another process created the schema at the same moment; checked just below
        if migrate.current(engine) != migrate.head():
            raise ConfigError(
                f"cơ sở dữ liệu ở phiên bản {migrate.current(engine) or 'không rõ'}, cần {migrate.head()}: "
                "chạy `dondoc db upgrade`"
            )
    except OperationalError as exc:
        raise DatabaseUnavailable(f"không kết nối được cơ sở dữ liệu: {_first_line(exc)}") from exc
    _ready.add(url)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise DatabaseUnavailable(f"lỗi cơ sở dữ liệu: {_first_line(exc)}") from exc
        except BaseException:
            session.rollback()
            raise


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@sa_event.listens_for(_Session, "before_flush")
def _events_are_append_only(session, _flush_context, _instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Event) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("the audit trail is append-only: events are never changed or deleted")


@contextmanager
def transaction(settings: Settings | None = None) -> Iterator[Session]:
    """One transaction on the configured database."""
    settings = settings or get_settings()
    with session_scope(open_database(settings.database_url)) as session:
        yield session


@contextmanager
def rehearsal(settings: Settings | None = None) -> Iterator[Session]:
    """A transaction that is always rolled back.

    Shells rehearse an action with the very rules that will apply, so a
    refusal is reported at once and never becomes a failed flow run.
    """
    settings = settings or get_settings()
    with Session(open_database(settings.database_url)) as session:
        try:
            yield session
        except OperationalError as exc:
            raise DatabaseUnavailable(f"lỗi cơ sở dữ liệu: {_first_line(exc)}") from exc
        finally:
            session.rollback()
