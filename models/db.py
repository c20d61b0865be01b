"""Engines and sessions. Nothing connects at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session as _Session
from sqlmodel import Session, SQLModel, create_engine

from models.errors import DatabaseUnavailable
from models.settings import Settings, get_settings
from models.tables import Event


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL for the life of the process."""
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
    return engine


def init_db(engine: Engine) -> None:
    """Create any missing tables."""
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as exc:
        raise DatabaseUnavailable(f"không kết nối được cơ sở dữ liệu: {_first_line(exc)}") from exc


_ready: set[str] = set()


def open_database(url: str) -> Engine:
    """The engine for ``url``, with its tables created on first use in this process."""
    engine = get_engine(url)
    if url not in _ready:
        init_db(engine)
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
