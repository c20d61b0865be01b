"""Claiming due rows and recording what became of them.

Before claiming, a sweep marks ``skipped`` the due rows that a later rung has
superseded (``skip_superseded``): after downtime, only what is true today goes out.

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

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select as sa_select, update
from sqlmodel import Session, select

from models.lifecycle.ladder import LEAD_CHAIN, Supersession, ladder_of, next_occurrence, resume_from, superseded
from models.lifecycle.planning import add_row
from models.lifecycle.retry import next_attempt
from models.lifecycle.status import CLOSED, REPORTED, rung_applies
from models.store.tables import Assignment, Directive, Notification
from models.calendar.timerules import TimeRules
from notifications.wording import RUNG_LABELS, dmy


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
    finished = sa_select(Assignment.id).where(Assignment.status.in_(CLOSED))
    reported = sa_select(Assignment.id).where(Assignment.status == REPORTED)
    result = session.exec(
        update(Notification)
        .where(
            Notification.state == "pending",
            Notification.due_at <= now,
            or_(
                # What tells of the end itself still goes: the closing notice, a result's acceptance.
                and_(Notification.directive_id.in_(closed), Notification.rung.not_in(("closed", "accepted"))),
                and_(Notification.assignment_id.in_(finished), Notification.rung != "accepted"),
                # A result waiting for review: only the request to the coordinator still applies.
                and_(Notification.assignment_id.in_(reported), Notification.rung != "review-request"),
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
    plan_next(session, row, now=now, rules=rules, domain=domain)


def plan_next(session: Session, row: Notification, *, now: datetime, rules: TimeRules, domain: str) -> None:
    """A repeating rung's next occurrence, once this one is settled: sent, or failed (the series goes on)."""
    if row.repeat and row.assignment_id:
        directive = session.get(Directive, row.directive_id)
        assignment = session.get(Assignment, row.assignment_id)
        if directive.status == "active" and rung_applies(row.rung, assignment.status):
            on, due_at = next_occurrence(resume_from(row.on, rules.today(now)), row.repeat, rules)
            add_row(session, directive=directive, assignment=assignment, rung=row.rung, template=row.template, on=on,
                    due_at=due_at, to=row.to_audience, cc=row.cc_audience, now=now, domain=domain, repeat=row.repeat)


def mark_retry(session: Session, row: Notification, *, now: datetime, error: str, retry_hours: float,
               recipients: dict | None = None, rules: TimeRules | None = None, domain: str | None = None) -> str:
    """Put a row back for a later attempt, or fail it once its retry window (models/lifecycle/retry.py) is spent.

    ``recipients`` keeps what this attempt delivered, so the next one sends only the envelopes still owed.
    The window opens at the row's first failed attempt (``now`` then), so a backlog sent late keeps all of it.
    """
    if recipients is not None:
        row.recipients = recipients
    if row.first_attempt_at is None:
        row.first_attempt_at = now
    if rules is not None:  # a later rung has taken its place (catch-up's rule): no more attempts
        reason = supersession_reason(session, row, now=now, rules=rules)
        if reason is not None:
            return mark_skipped(session, row, reason=reason, now=now, rules=rules, domain=domain)
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
    """Fail the row for good (until re-queued: models/lifecycle/deliveries.py).

    A repeating rung still plans its next occurrence: one occurrence that did not arrive must not end the series.
    """
    if recipients is not None:
        row.recipients = recipients
    row.state, row.last_error = "failed", error[:500]
    session.add(row)
    if rules is not None and domain is not None and now is not None:
        plan_next(session, row, now=now, rules=rules, domain=domain)
    return "failed"


def skip_reason(supersession: Supersession) -> str:
    """Why a row was not sent late, as ``dondoc outbox`` shows it."""
    if supersession.by is None:
        return f"không gửi bù: đã quá thời hạn {dmy(supersession.since)}, nội dung nhắc trước hạn không còn đúng"
    label = RUNG_LABELS.get(supersession.by, supersession.by)
    return f"không gửi bù: đã đến ngày gửi {label[:1].lower()}{label[1:]} ({dmy(supersession.since)})"


def skip_superseded(session: Session, *, now: datetime, rules: TimeRules) -> int:
    """Mark ``skipped``, with the reason, every due row that a later rung has superseded (``models.lifecycle.ladder.superseded``).

    Rows waiting for another attempt are due rows too, so a transient failure
    stops being retried here once a later rung has taken its place. Only rows
    planned for an earlier day can be superseded, so a sweep that catches up on
    nothing reads nothing.
    """
    today = rules.today(now)
    due = session.exec(
        sa_select(Notification.id, Notification.rung, Notification.on, Notification.repeat, Notification.directive_id,
                  Assignment.due)
        .join(Assignment, Assignment.id == Notification.assignment_id)
        .where(Notification.state == "pending", Notification.due_at <= now, Notification.on < today,
               Notification.rung.in_(LEAD_CHAIN))
    ).all()
    if not due:
        return 0
    ladders = {d.id: ladder_of(d.definition)
               for d in session.exec(select(Directive).where(Directive.id.in_({r.directive_id for r in due}))).all()}
    by_reason: dict[str, list[int]] = defaultdict(list)
    repeating: set[int] = set()
    for row_id, rung, on, repeat, directive_id, assignment_due in due:
        found = superseded(rung, on, due=assignment_due, ladder=ladders[directive_id], today=today,
                           calendar=rules.calendar)
        if found is not None:
            by_reason[skip_reason(found)].append(row_id)
            if repeat:
                repeating.add(row_id)
    skipped: list[int] = []
    for reason, ids in by_reason.items():
        for start in range(0, len(ids), 500):
            skipped += session.exec(
                update(Notification)
                .where(Notification.id.in_(ids[start:start + 500]), Notification.state == "pending")
                .values(state="skipped", last_error=reason, next_attempt_at=None)
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            ).scalars().all()
    # A skipped occurrence of a repeating rung (a custom ladder's) still owes its series the next one.
    for row_id in repeating.intersection(skipped):
        row = session.get(Notification, row_id)
        plan_next(session, row, now=now, rules=rules, domain=_domain_of(row))
    return len(skipped)


def supersession_reason(session: Session, row: Notification, *, now: datetime, rules: TimeRules) -> str | None:
    """The reason ``row`` must not go out any more (a later rung has superseded it), or None.

    For the retry path: a row waiting for another attempt is superseded like
    any other (``skip_superseded`` at the next sweep), and ``mark_retry`` asks
    here to stop at once instead of scheduling another attempt.
    """
    if row.rung not in LEAD_CHAIN or row.assignment_id is None:
        return None
    assignment = session.get(Assignment, row.assignment_id)
    directive = session.get(Directive, row.directive_id)
    found = superseded(row.rung, row.on, due=assignment.due, ladder=ladder_of(directive.definition),
                       today=rules.today(now), calendar=rules.calendar)
    return skip_reason(found) if found is not None else None


def mark_skipped(session: Session, row: Notification, *, reason: str, now: datetime, rules: TimeRules,
                 domain: str | None = None) -> str:
    """Give up on a superseded row: it stays in the outbox as ``skipped``, with the reason; a series goes on."""
    row.state, row.last_error, row.next_attempt_at = "skipped", reason[:500], None
    row.claimed_by = row.claimed_at = None
    session.add(row)
    plan_next(session, row, now=now, rules=rules, domain=domain or _domain_of(row))
    return "skipped"


def _domain_of(row: Notification) -> str:
    """The domain the row was planned with, so the next occurrence's Message-ID matches its kind."""
    return row.message_id.rpartition("@")[2].rstrip(">")
