"""What a coordinator's daily digest says, across all the directives it issued, in a few set-based queries.

One digest per coordinator (the issuing agency) per working day, at most: a coordinator with 400 open
directives gets one message, not 400. It is sent only when there is news since the last one, or when
something waits on the coordinator (``worth_sending``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from models.calendar.timerules import TimeRules
from models.lifecycle.status import DECLINED, OPEN, REPORTED
from models.store.tables import Assignment, AssignmentAgency, Directive, Event, ExtensionRequest, Notification

LIMIT = 30  # lines per list; the rest is counted


def digest_key(issuer: str) -> str:
    """The slug part of a coordinator digest's outbox key: ``coordinator-<issuer>/-/digest/<day>``."""
    return f"coordinator-{issuer}"


def last_digest(session: Session, issuer: str) -> datetime | None:
    return session.exec(select(Notification.sent_at).where(
        Notification.key.startswith(f"{digest_key(issuer)}/"), Notification.state == "sent")
        .order_by(Notification.sent_at.desc())).first()


def _active(issuer: str):
    return select(Directive.id).where(Directive.issuer == issuer, Directive.status == "active")


def waiting_on_coordinator(session: Session, issuer: str) -> int:
    """How many things wait for the coordinator's decision: results to review, refusals, extension requests."""
    active = _active(issuer)
    decisions = session.exec(select(Assignment.id).where(
        Assignment.directive_id.in_(active), Assignment.status.in_((REPORTED, DECLINED))).limit(1)).first()
    if decisions is not None:
        return 1
    return 1 if session.exec(select(ExtensionRequest.id).join(Assignment).where(
        ExtensionRequest.state == "pending", Assignment.directive_id.in_(active)).limit(1)).first() else 0


def worth_sending(session: Session, issuer: str, *, since: datetime | None, now: datetime) -> bool:
    """News since the last digest (an event on one of its directives, a message that failed), or a decision
    waiting on the coordinator."""
    mine = select(Directive.id).where(Directive.issuer == issuer)
    news = select(Event.id).where(Event.directive_id.in_(mine), Event.at <= now)
    failed = select(Notification.id).where(Notification.directive_id.in_(mine), Notification.state == "failed")
    if since is not None:
        news = news.where(Event.at > since)
        failed = failed.where(Notification.due_at > since)
    if session.exec(news.limit(1)).first() is not None or session.exec(failed.limit(1)).first() is not None:
        return True
    return bool(waiting_on_coordinator(session, issuer))


@dataclass
class Digest:
    since: datetime | None
    changes: list[dict[str, Any]] = field(default_factory=list)
    more_changes: int = 0
    waiting: list[dict[str, Any]] = field(default_factory=list)
    overdue: list[dict[str, Any]] = field(default_factory=list)
    more_overdue: int = 0
    due_this_week: list[dict[str, Any]] = field(default_factory=list)
    more_due: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    directives: int = 0


def gather(session: Session, issuer: str, *, since: datetime | None, now: datetime, rules: TimeRules) -> Digest:
    """The lists of one coordinator's digest, each sorted the way it is read."""
    today = rules.today(now)
    cal = rules.calendar
    active = list(session.exec(select(Directive).where(Directive.issuer == issuer, Directive.status == "active")).all())
    numbers = {d.id: d.number for d in active}
    slugs = {d.id: d.slug for d in active}
    out = Digest(since=since, directives=len(active))
    mine = select(Directive.id).where(Directive.issuer == issuer)
    events = select(Event, Assignment.key, Directive.number).join(
        Assignment, Event.assignment_id == Assignment.id, isouter=True).join(
        Directive, Directive.id == Event.directive_id).where(Event.directive_id.in_(mine), Event.at <= now)
    if since is not None:
        events = events.where(Event.at > since)
    found = list(session.exec(events.order_by(Event.at.desc(), Event.id.desc()).limit(LIMIT + 1)).all())
    out.changes = [{"event": e, "key": key, "number": number} for e, key, number in reversed(found[:LIMIT])]
    if len(found) > LIMIT:
        count = select(Event.id).where(Event.directive_id.in_(mine), Event.at <= now)
        if since is not None:
            count = count.where(Event.at > since)
        out.more_changes = len(session.exec(count).all()) - LIMIT

    ids = list(numbers)
    open_rows = list(session.exec(select(Assignment).where(
        Assignment.directive_id.in_(ids), Assignment.status.in_((*OPEN, REPORTED, DECLINED)))).all()) if ids else []
    leads = _leads(session, [a.id for a in open_rows])
    spans: dict[tuple[date, date], int] = {}

    def between(a: date, b: date) -> int:
        if (a, b) not in spans:
            spans[(a, b)] = cal.working_days_between(a, b)
        return spans[(a, b)]

    def line(a: Assignment, **extra) -> dict[str, Any]:
        return {"number": numbers[a.directive_id], "slug": slugs[a.directive_id], "key": a.key, "title": a.title,
                "leads": leads.get(a.id, []), "due": a.due, **extra}

    declined_at = {}
    declined = [a.id for a in open_rows if a.status == DECLINED]
    if declined:
        for assignment_id, at in session.exec(select(Event.assignment_id, Event.at).where(
                Event.assignment_id.in_(declined), Event.kind == "declined")).all():
            declined_at[assignment_id] = max(at, declined_at.get(assignment_id, at))
    for a in open_rows:
        if a.status == REPORTED and a.reported_on:
            out.waiting.append(line(a, what="xem xét kết quả", since=a.reported_on, reason=None,
                                    days=between(a.reported_on, today), command=f"dondoc review {slugs[a.directive_id]}/{a.key} --accept"))
        elif a.status == DECLINED and a.id in declined_at:
            day = rules.today(declined_at[a.id])
            out.waiting.append(line(a, what="quyết định về việc từ chối", since=day, days=between(day, today), reason=None,
                                    command=f"dondoc reassign {slugs[a.directive_id]}/{a.key} --leads … --reason …"))
    if ids:
        for request, a in session.exec(select(ExtensionRequest, Assignment).join(Assignment).where(
                ExtensionRequest.state == "pending", Assignment.directive_id.in_(ids))).all():
            day = rules.today(request.requested_at)
            out.waiting.append(line(a, what=f"đề nghị gia hạn đến {request.until:%d/%m/%Y}", since=day,
                                    days=between(day, today), reason=request.reason,
                                    command=f"dondoc extend {slugs[a.directive_id]}/{a.key} --reason …"))
    out.waiting.sort(key=lambda w: (-w["days"], w["number"], w["key"]))

    overdue = [line(a, days=between(a.due, today)) for a in open_rows
               if a.status in OPEN and a.due is not None and a.due < today]
    overdue.sort(key=lambda o: (-o["days"], o["due"], o["number"], o["key"]))
    out.overdue, out.more_overdue = overdue[:LIMIT], max(0, len(overdue) - LIMIT)
    week_end = today + timedelta(days=6 - today.weekday())
    due = [line(a, days=between(today, a.due)) for a in open_rows
           if a.status in OPEN and a.due is not None and today <= a.due <= week_end]
    due.sort(key=lambda d: (d["due"], d["number"], d["key"]))
    out.due_this_week, out.more_due = due[:LIMIT], max(0, len(due) - LIMIT)

    failed = select(Notification, Assignment.key, Directive.number).join(
        Assignment, Notification.assignment_id == Assignment.id, isouter=True).join(
        Directive, Directive.id == Notification.directive_id).where(
        Notification.directive_id.in_(mine), Notification.state == "failed")
    out.failures = [{"row": n, "key": key, "number": number}
                    for n, key, number in session.exec(failed.order_by(Notification.due_at, Notification.id)
                                                       .limit(LIMIT)).all()]
    return out


def _leads(session: Session, ids: list[int]) -> dict[int, list[str]]:
    leads: dict[int, list[str]] = {}
    for i in range(0, len(ids), 5000):
        for assignment_id, code in session.exec(select(AssignmentAgency.assignment_id, AssignmentAgency.agency_code)
                                                .where(AssignmentAgency.assignment_id.in_(ids[i:i + 5000]),
                                                       AssignmentAgency.role == "lead")
                                                .order_by(AssignmentAgency.assignment_id,
                                                          AssignmentAgency.position)).all():
            leads.setdefault(assignment_id, []).append(code)
    return leads


def issuers_due(session: Session, *, send_at: datetime) -> list[str]:
    """The coordinators with an active directive launched before today's digest hour."""
    return list(session.exec(select(Directive.issuer).where(Directive.status == "active",
                                                            Directive.launched_at <= send_at)
                             .distinct().order_by(Directive.issuer)).all())

