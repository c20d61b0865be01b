"""Claiming due rows and recording what became of them.

Two dispatchers never claim the same row:
- PostgreSQL: the candidate rows are selected ``FOR UPDATE SKIP LOCKED``, so a
  second dispatcher skips rows the first is claiming and takes the next ones;
- SQLite: the claim is one ``UPDATE … WHERE id IN (SELECT …) RETURNING``
  statement, and SQLite runs one write transaction at a time, so the second
  dispatcher's statement sees the rows already marked ``sending``.

A claim older than the claim timeout belongs to a dispatcher that died; its
rows are claimed again and re-sent with the same Message-ID.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select as sa_select, update
from sqlmodel import Session, select

from models.ladder import next_occurrence
from models.planning import add_row
from models.retry import next_attempt
from models.status import OPEN
from models.tables import Assignment, Directive, Notification
from models.timerules import TimeRules


def _eligible(now: datetime, claim_timeout: int):
    stale_before = now - timedelta(seconds=claim_timeout)
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


def claim(session: Session, *, now: datetime, limit: int, worker: str, claim_timeout: int) -> list[int]:
    """Mark up to ``limit`` due rows as being sent by ``worker``; oldest first."""
    candidates = (
        sa_select(Notification.id)
        .where(_eligible(now, claim_timeout))
        .order_by(Notification.due_at, Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(Notification)
        .where(Notification.id.in_(candidates.scalar_subquery()))
        .values(state="sending", claimed_by=worker, claimed_at=now, attempts=Notification.attempts + 1)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.exec(statement).scalars().all())


def load(session: Session, ids: list[int]) -> list[Notification]:
    return list(session.exec(select(Notification).where(Notification.id.in_(ids)).order_by(Notification.due_at, Notification.id)).all())


def mark_sent(session: Session, row: Notification, *, now: datetime, recipients: dict, rules: TimeRules,
              domain: str, note: str | None = None) -> None:
    """Record delivery and, for a repeating rung, plan its next occurrence."""
    row.state, row.sent_at, row.recipients, row.last_error = "sent", now, recipients, note
    session.add(row)
    plan_next(session, row, now=now, rules=rules, domain=domain)


def plan_next(session: Session, row: Notification, *, now: datetime, rules: TimeRules, domain: str) -> None:
    """A repeating rung's next occurrence, once this one is settled: sent, or failed (the series goes on)."""
    if row.repeat and row.assignment_id:
        directive = session.get(Directive, row.directive_id)
        assignment = session.get(Assignment, row.assignment_id)
        if directive.status == "active" and assignment.status in OPEN:
            on, due_at = next_occurrence(row.on, row.repeat, rules)
            add_row(session, directive=directive, assignment=assignment, rung=row.rung, template=row.template, on=on,
                    due_at=due_at, to=row.to_audience, cc=row.cc_audience, now=now, domain=domain, repeat=row.repeat)


def mark_retry(session: Session, row: Notification, *, now: datetime, error: str, retry_hours: float,
               recipients: dict | None = None, rules: TimeRules | None = None, domain: str | None = None) -> str:
    """Put a row back for a later attempt, or fail it once its retry window (models/retry.py) is spent.

    ``recipients`` keeps what this attempt delivered, so the next one sends only the envelopes still owed.
    The window opens at the row's first failed attempt (``now`` then), so a backlog sent late keeps all of it.
    """
    if recipients is not None:
        row.recipients = recipients
    if row.first_attempt_at is None:
        row.first_attempt_at = now
    # Hook for catch-up: a rung superseded by a later one may end its window early (next_attempt's superseded_at).
    at = next_attempt(first_attempt=row.first_attempt_at, attempts=row.attempts, now=now, hours=retry_hours)
    if at is None:
        hours = (now - row.first_attempt_at).total_seconds() / 3600
        return mark_failed(session, row, error=f"{error} (đã thử {row.attempts} lần trong {hours:.0f} giờ)",
                           rules=rules, domain=domain, now=now)
    row.state, row.next_attempt_at, row.last_error = "pending", at, error[:500]
    row.claimed_by = row.claimed_at = None
    session.add(row)
    return "retrying"


def mark_failed(session: Session, row: Notification, *, error: str, recipients: dict | None = None,
                rules: TimeRules | None = None, domain: str | None = None, now: datetime | None = None) -> str:
    """Fail the row for good (until re-queued: models/deliveries.py).

    A repeating rung still plans its next occurrence: one occurrence that did not arrive must not end the series.
    """
    if recipients is not None:
        row.recipients = recipients
    row.state, row.last_error = "failed", error[:500]
    session.add(row)
    if rules is not None and domain is not None and now is not None:
        plan_next(session, row, now=now, rules=rules, domain=domain)
    return "failed"
