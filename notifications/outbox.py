"""Claiming due rows and recording what became of them.

Two dispatchers never claim the same row:
- PostgreSQL: the candidate rows are selected ``FOR UPDATE SKIP LOCKED``, so a
  second dispatcher skips rows the first is claiming and takes the next ones;
- SQLite: the claim is one ``UPDATE … WHERE id IN (SELECT …) RETURNING``
  statement, and SQLite runs one write transaction at a time, so the second
  dispatcher's statement sees the rows already marked ``sending``.

A claim is a lease on the wall clock, not on the sweep's ``now`` (which may be
a rehearsal's past date, or a later sweep's): ``claimed_at`` is when it was
taken or last renewed, and the dispatcher renews it while its batch is in
flight (notifications/dispatch.py). A lease left to lapse belongs to a
dispatcher that died; its rows are claimed again and re-sent with the same
Message-ID.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select as sa_select, update
from sqlmodel import Session, select

from models.ladder import next_occurrence
from models.planning import add_row
from models.status import OPEN
from models.tables import Assignment, Directive, Notification
from models.timerules import TimeRules

RETRY_STEPS = (60, 300, 900, 1800, 3600)  # seconds; the last repeats


def _eligible(now: datetime, stamp: datetime, lease: int):
    stale_before = stamp - timedelta(seconds=lease)
    return or_(
        and_(
            Notification.state == "pending",
            Notification.due_at <= now,
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        ),
        and_(Notification.state == "sending", Notification.claimed_at < stale_before),
    )


def tidy(session: Session, *, now: datetime) -> int:
    """Cancel due rows that must never go out: a closed directive, or an assignment no longer open.

    Only due rows are looked at (the claim only takes those), so a sweep's cost
    follows what is due, not how much is planned.
    """
    closed = sa_select(Directive.id).where(Directive.status != "active")
    finished = sa_select(Assignment.id).where(Assignment.status.not_in(OPEN))
    result = session.exec(
        update(Notification)
        .where(
            Notification.state == "pending",
            Notification.due_at <= now,
            or_(
                and_(Notification.directive_id.in_(closed), Notification.rung != "closed"),
                Notification.assignment_id.in_(finished),
            ),
        )
        .values(state="cancelled", last_error="không gửi: văn bản hoặc nhiệm vụ đã kết thúc")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def claim(session: Session, *, now: datetime, limit: int, worker: str, stamp: datetime, lease: int) -> list[int]:
    """Mark up to ``limit`` rows due by ``now`` as being sent by ``worker``; oldest first.

    ``stamp`` is the wall clock: the lease starts then, and a row whose lease
    lapsed ``lease`` seconds before it is taken over.
    """
    candidates = (
        sa_select(Notification.id)
        .where(_eligible(now, stamp, lease))
        .order_by(Notification.due_at, Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(Notification)
        .where(Notification.id.in_(candidates.scalar_subquery()))
        .values(state="sending", claimed_by=worker, claimed_at=stamp, attempts=Notification.attempts + 1)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.exec(statement).scalars().all())


def renew(session: Session, *, worker: str, stamp: datetime) -> set[int]:
    """Renew ``worker``'s lease on the rows it still holds; returns their ids (a row missing was taken over)."""
    statement = (
        update(Notification)
        .where(Notification.state == "sending", Notification.claimed_by == worker)
        .values(claimed_at=stamp)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.exec(statement).scalars().all())


def load(session: Session, ids: list[int]) -> list[Notification]:
    return list(session.exec(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.due_at, Notification.id)).all())


def mark_sent(session: Session, row: Notification, *, now: datetime, recipients: dict, rules: TimeRules,
              domain: str, note: str | None = None) -> None:
    """Record delivery and, for a repeating rung, plan its next occurrence."""
    row.state, row.sent_at, row.recipients, row.last_error = "sent", now, recipients, note
    session.add(row)
    if row.repeat and row.assignment_id:
        directive = session.get(Directive, row.directive_id)
        assignment = session.get(Assignment, row.assignment_id)
        if directive.status == "active" and assignment.status in OPEN:
            on, due_at = next_occurrence(row.on, row.repeat, rules)
            add_row(session, directive=directive, assignment=assignment, rung=row.rung, template=row.template, on=on,
                    due_at=due_at, to=row.to_audience, cc=row.cc_audience, now=now, domain=domain, repeat=row.repeat)


def mark_retry(session: Session, row: Notification, *, now: datetime, error: str, max_attempts: int,
               recipients: dict | None = None) -> str:
    """Put a row back for a later attempt, or fail it once it has been tried too often.

    ``recipients`` keeps what this attempt delivered, so the next one sends only the envelopes still owed.
    """
    if recipients is not None:
        row.recipients = recipients
    if row.attempts >= max_attempts:
        return mark_failed(session, row, error=f"{error} (sau {row.attempts} lần thử)")
    step = RETRY_STEPS[min(row.attempts, len(RETRY_STEPS)) - 1] if row.attempts else RETRY_STEPS[0]
    row.state, row.next_attempt_at, row.last_error = "pending", now + timedelta(seconds=step), error[:500]
    row.claimed_by = row.claimed_at = None
    session.add(row)
    return "retrying"


def mark_failed(session: Session, row: Notification, *, error: str, recipients: dict | None = None) -> str:
    if recipients is not None:
        row.recipients = recipients
    row.state, row.last_error = "failed", error[:500]
    session.add(row)
    return "failed"
