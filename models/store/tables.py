"""The database tables. Only these classes are mapped; everything else is plain data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.store.types import AwareDateTime


def _instant(**kwargs: Any):
    return Field(sa_type=AwareDateTime, **kwargs)


class _Table(SQLModel):
    """The base of every table: pydantic builds a table's validator on first use, not at import.

    Rows are read and written through SQLAlchemy, which never calls it, so a
    command that only reads never pays for it (about a third of this
    module's import time); ``model_validate`` and the like build it when first called.
    """

    model_config = ConfigDict(defer_build=True)  # merged with SQLModel's own (from_attributes)


class Registry(_Table, table=True):
    """A set of agencies loaded from one YAML file (for example, one province)."""

    name: str = Field(primary_key=True, max_length=64)
    title: str
    provincial_office: str | None = Field(default=None, max_length=32)
    source: str = ""
    loaded_at: datetime = _instant()
    # The rating scale of agency scorecards: [{"min": 0.9, "name": "…"}, …], highest first; [] for the default.
    ratings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))


class Agency(_Table, table=True):
    code: str = Field(primary_key=True, max_length=32)
    registry_name: str = Field(foreign_key="registry.name", index=True, max_length=64)
    name: str
    short_names: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parent: str | None = None
    email: str
    head_title: str
    head_name: str | None = None
    head_email: str


class Directive(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=120)
    number: str = Field(unique=True, max_length=120)
    issued_on: date
    issuer: str = Field(foreign_key="agency.code", max_length=32)
    subject: str
    place: str
    registry_name: str = Field(foreign_key="registry.name", max_length=64)
    milestone: str | None = Field(default=None, max_length=64)
    status: str = Field(default="active", index=True, max_length=16)
    launched_at: datetime = _instant()
    closed_at: datetime | None = _instant(default=None)
    published_at: datetime | None = _instant(default=None)  # last status artifact
    source: str = ""
    # The validated definition as launched: later rules (ladder, report
    # settings) read it, and it documents exactly what was agreed.
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Series(_Table, table=True):
    """A recurring report (``every``): its occurrences are assignments, one per period (models/lifecycle/occurrences.py).

    ``next_opens_at`` is when the next occurrence opens (the day after the latest one was due); a sweep opens
    every series whose instant has come, and an index keeps that one probe cheap however many there are.
    """

    __table_args__ = (UniqueConstraint("directive_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    directive_id: int = Field(foreign_key="directive.id", index=True)
    key: str = Field(max_length=64)
    every: str = Field(max_length=16)  # month | quarter | half-year | year
    report_day: int
    window: str = Field(default="nd09", max_length=16)  # nd09 | calendar
    until: date | None = None
    status: str = Field(default="active", max_length=16)  # waiting | active | ended | cancelled
    after: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_period: str | None = Field(default=None, max_length=16)
    next_opens_at: datetime | None = _instant(default=None, index=True)
    created_at: datetime = _instant()


class Assignment(_Table, table=True):
    __table_args__ = (UniqueConstraint("directive_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    directive_id: int = Field(foreign_key="directive.id", index=True)
    key: str = Field(max_length=96)  # <key>/<period> for an occurrence of a recurring report
    kind: str = Field(max_length=64)
    title: str
    action: str
    due: date | None = Field(default=None, index=True)  # None while it waits for a due_in step to start
    stated_due: date | None = None
    status: str = Field(default="assigned", index=True, max_length=16)
    milestone: bool = False
    depends_on: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    after: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    due_in: int | None = None  # working days from the day it starts
    started_at: datetime | None = _instant(default=None)  # None: at launch
    reported_on: date | None = None  # the day an agency reported completion, when review is on
    series_id: int | None = Field(default=None, foreign_key="series.id", index=True)  # an occurrence's series
    period: str | None = Field(default=None, max_length=16)  # 2021-01, 2021-q1, 2021-h1, 2021
    window_from: date | None = None  # the occurrence's data window
    window_to: date | None = None
    done_on: date | None = None
    evidence: str | None = None
    evidence_on: date | None = None
    updated_at: datetime = _instant()


class AssignmentAgency(_Table, table=True):
    """An agency's part in an assignment: ``lead`` (chủ trì) or ``supporting`` (phối hợp)."""

    __tablename__ = "assignment_agency"

    assignment_id: int = Field(foreign_key="assignment.id", primary_key=True)
    agency_code: str = Field(foreign_key="agency.code", primary_key=True, max_length=32)
    role: str = Field(max_length=16)
    position: int = 0


class Event(_Table, table=True):
    """One row of the append-only audit trail."""

    # ix_event_at: what happened after an instant (reports as of a past date replay only those assignments).
    __table_args__ = (Index("ix_event_directive_at", "directive_id", "at"), Index("ix_event_at", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _instant()
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    directive_id: int = Field(foreign_key="directive.id")
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Notification(_Table, table=True):
    """One planned message in the outbox.

    Planned in the same transaction as the change that causes it; claimed,
    sent and marked by a dispatcher. ``key`` is unique, so no rung is ever
    planned twice, and ``message_id`` is derived from it, so a message re-sent
    after a crash carries the same Message-ID.
    """

    __table_args__ = (Index("ix_notification_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=255)
    message_id: str = Field(unique=True, max_length=255)
    # None for a coordinator's daily digest, which covers every directive it issued (payload: issuer).
    directive_id: int | None = Field(default=None, foreign_key="directive.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    rung: str = Field(max_length=32)
    template: str = Field(max_length=32)
    on: date
    due_at: datetime = _instant()
    repeat: int | None = None
    to_audience: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cc_audience: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=16)  # pending | sending | sent | failed | cancelled
    attempts: int = 0
    next_attempt_at: datetime | None = _instant(default=None)
    # The attempt that opened the retry window (models/lifecycle/retry.py); cleared when the row is re-queued.
    first_attempt_at: datetime | None = _instant(default=None)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _instant(default=None)
    sent_at: datetime | None = _instant(default=None)
    recipients: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_error: str | None = None
    created_at: datetime = _instant()


class ExtensionRequest(_Table, table=True):
    """An agency's request for more time, and the coordinator's decision on it."""

    __tablename__ = "extension_request"
    # At most one pending request per assignment, enforced by the database itself: requests posted at the same
    # moment all pass the application's check, and only this index stops the second (migration 0002).
    # Its WHERE is added for the dialect in use only (use_dialect below).
    __table_args__ = (Index("uq_extension_request_one_pending", "assignment_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True)
    agency_code: str = Field(foreign_key="agency.code", max_length=32)
    requested_at: datetime = _instant()
    until: date
    reason: str
    state: str = Field(default="pending", max_length=16)  # pending | approved | rejected | withdrawn
    decided_at: datetime | None = _instant(default=None)
    decided_by: str | None = Field(default=None, max_length=200)
    decision_reason: str | None = None


class Outlet(_Table, table=True):
    """How far an outside consumer of the audit trail has read it: the last event id it has taken.

    The audit trail (``event``) is append-only and is the truth; an outlet (the Prefect event feed) reads
    it in order from its cursor, so nothing is sent twice or skipped, whichever process sends.
    """

    name: str = Field(primary_key=True, max_length=32)
    last_event_id: int = 0
    updated_at: datetime = _instant()


class ClockLease(_Table, table=True):
    """Which `dondoc serve` runs the clock of this database: one row at most, named ``clock`` (models/store/clocklease.py).

    APScheduler 3 keeps its jobs in this database and must never share that job store between two processes.
    """

    __tablename__ = "clock_lease"

    name: str = Field(primary_key=True, max_length=16)
    instance: str = Field(max_length=32)  # random per serve: tells a restarted serve from the one before it
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = _instant()
    renewed_at: datetime = _instant()
    expires_at: datetime = _instant()


def use_dialect(name: str) -> None:
    """Give the partial index its WHERE in the words of dialect ``name``, as models.store.db.get_engine opens one.

    Written into the table here, at the first engine of a dialect, and not in the class: the keyword
    ``postgresql_where`` makes SQLAlchemy load its whole PostgreSQL dialect (about 45 ms, with asyncpg's
    and psycopg's modules) into every command, read-only ones on SQLite included.
    """
    if name not in ("sqlite", "postgresql"):
        return
    index = next(i for i in ExtensionRequest.__table__.indexes if i.name == "uq_extension_request_one_pending")
    if index.dialect_kwargs.get(f"{name}_where") is None:
        index.dialect_kwargs[f"{name}_where"] = text("state = 'pending'")
