"""Writing the outbox: planned rows are added in the caller's transaction."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert
from sqlmodel import Session, select, update

from models.lifecycle.ladder import PlannedRung, ladder_of, message_id_for, notification_key, plan
from models.store.tables import Assignment, AssignmentAgency, Directive, Notification
from models.calendar.timerules import TimeRules

LIVE = ("pending", "sending")


def mail_domain(mail_from: str) -> str:
    return mail_from.rpartition("@")[2].strip(" >") or "localhost"


def add_row(
    session: Session, *, directive: Directive, assignment: Assignment | None, rung: str, template: str, on: date | None,
    due_at: datetime, to: list[str], cc: list[str], now: datetime, domain: str, repeat: int | None = None,
    tag: str | None = None, payload: dict | None = None, fresh: bool = False,
) -> Notification | None:
    """Plan one message unless its key is already planned; a cancelled twin is revived.

    ``tag`` tells apart messages of the same rung on the same day (one per extension request).
    ``fresh`` says the assignment was created in this transaction, so no twin can exist.
    """
    key = notification_key(directive.slug, assignment.key if assignment else None, f"{rung}-{tag}" if tag else rung, on)
    # populate_existing: a bulk cancel earlier in this transaction may have changed the row.
    row = None if fresh else session.exec(
        select(Notification).where(Notification.key == key).execution_options(populate_existing=True)
    ).first()
    if row is not None:
        if row.state != "cancelled":
            return None
        row.state, row.due_at, row.attempts, row.next_attempt_at, row.last_error = "pending", due_at, 0, None, None
    else:
        row = Notification(key=key, message_id=message_id_for(key, domain), directive_id=directive.id,
                           assignment_id=assignment.id if assignment else None, rung=rung, template=template,
                           on=on or due_at.date(), due_at=due_at, repeat=repeat, to_audience=list(to),
                           cc_audience=list(cc), created_at=now, payload=payload or {})
    session.add(row)
    return row


def plan_assignment(
    session: Session, *, directive: Directive, assignment: Assignment, now: datetime, rules: TimeRules,
    domain: str, include_launch: bool = True, fresh: bool = False, collect: list[dict] | None = None,
) -> list[Notification]:
    """Plan the assignment's ladder (and, with the notice, its acknowledgement requests).

    ``fresh``: the assignment is new, so no row can have a twin; its rows are inserted in bulk, or, with
    ``collect``, added to that list for the caller to insert with others.
    """
    planned: list[PlannedRung] = plan(ladder_of(directive.definition), due=assignment.due, now=now, rules=rules,
                                      include_launch=include_launch)
    if fresh:
        # A new assignment has no twin to revive: its rows go in as one multi-row insert, without building an
        # ORM object each (a province's launch plans thousands).
        values = []
        for p in planned:
            key = notification_key(directive.slug, assignment.key, p.rung, p.on)
            values.append({"key": key, "message_id": message_id_for(key, domain), "directive_id": directive.id,
                           "assignment_id": assignment.id, "rung": p.rung, "template": p.template, "on": p.on,
                           "due_at": p.due_at, "repeat": p.repeat, "to_audience": list(p.to), "cc_audience": list(p.cc),
                           "state": "pending", "attempts": 0, "recipients": {}, "payload": {}, "created_at": now})
        if collect is not None:
            collect.extend(values)
        elif values:
            session.execute(insert(Notification), values)
        if include_launch:
            plan_unacknowledged(session, directive=directive, assignment=assignment, now=now, rules=rules,
                                domain=domain, fresh=fresh)
        return []
    rows = []
    for p in planned:
        row = add_row(session, directive=directive, assignment=assignment, rung=p.rung, template=p.template, on=p.on,
                      due_at=p.due_at, to=list(p.to), cc=list(p.cc), now=now, domain=domain, repeat=p.repeat,
                      fresh=fresh)
        if row is not None:
            rows.append(row)
    if include_launch:  # with the notice: whether each lead takes it up in time
        rows += plan_unacknowledged(session, directive=directive, assignment=assignment, now=now, rules=rules,
                                    domain=domain, fresh=fresh)
    return rows


def plan_unacknowledged(session: Session, *, directive: Directive, assignment: Assignment, now: datetime,
                        rules: TimeRules, domain: str, fresh: bool = False,
                        leads: list[str] | None = None) -> list[Notification]:
    """One ``unacknowledged`` message per lead, for a lead that takes no action in time after its notice.

    Decree 30/2020/NĐ-CP, Art. 21: a document is registered the day it arrives, at the latest the next
    working day. A lead that has neither acknowledged, reported, asked for more time nor declined by the
    end of the ``ack_within``-th working day after the notice (directive-level, default 1; 0: off) is asked
    at 08:00 the next working day, with a copy to the coordinator; once. Not when the due date comes first:
    the ladder speaks then. Its action cancels its row (``acted``).
    """
    within = int(directive.definition.get("ack_within", 1))
    if within <= 0 or assignment.due is None:
        return []
    today = rules.today(now)
    deadline = rules.calendar.add_working_days(today, within)
    if assignment.due <= deadline:
        return []
    day = rules.calendar.next_working_day(deadline)
    if leads is None:
        leads = list(session.exec(select(AssignmentAgency.agency_code).where(
            AssignmentAgency.assignment_id == assignment.id, AssignmentAgency.role == "lead")
            .order_by(AssignmentAgency.position)).all())
    rows = []
    for code in leads:
        row = add_row(session, directive=directive, assignment=assignment, rung="unacknowledged",
                      template="unacknowledged", on=day, due_at=rules.at_send_hour(day), to=["leads"],
                      cc=["coordinator"], now=now, domain=domain, tag=code, fresh=fresh,
                      payload={"lead": code, "notice_on": today.isoformat()})
        if row is not None:
            rows.append(row)
    return rows


def acted(session: Session, *, assignment_id: int, actor: str, leads: list[str], now: datetime) -> int:
    """A lead took an action: its ``unacknowledged`` message is not needed. The coordinator acting on the
    assignment (an actor that is not one of its leads) speaks for every lead."""
    rows = session.exec(select(Notification).where(
        Notification.assignment_id == assignment_id, Notification.rung == "unacknowledged",
        Notification.state == "pending")).all()
    count = 0
    for row in rows:
        if actor not in leads or row.payload.get("lead") == actor:
            row.state, row.last_error = "cancelled", f"{actor} đã có phản hồi"
            session.add(row)
            count += 1
    return count


def plan_review_request(session: Session, *, directive: Directive, assignment: Assignment, now: datetime,
                        rules: TimeRules, domain: str) -> Notification | None:
    """Ask the coordinator to decide on a reported result, if they have not by the end of the M-th working day.

    M is the directive's ``review_within`` (default 2): the request goes out at 08:00 on the working day
    after that, and again every M working days until the decision cancels it.
    """
    within = int(directive.definition.get("review_within") or 2)
    day = rules.calendar.add_working_days(rules.today(now), within + 1)
    return add_row(session, directive=directive, assignment=assignment, rung="review-request", template="review-request",
                   on=day, due_at=rules.at_send_hour(day), to=["coordinator"], cc=[], now=now, domain=domain,
                   repeat=within)


def cancel_pending(session: Session, *, now: datetime, reason: str, assignment_id: int | None = None,
                   directive_id: int | None = None, rungs: tuple[str, ...] | None = None) -> int:
    """Cancel rows not yet sent, for one assignment or a whole directive (only ``rungs``, if given)."""
    query = update(Notification).where(Notification.state == "pending")
    if assignment_id is not None:
        query = query.where(Notification.assignment_id == assignment_id)
    if directive_id is not None:
        query = query.where(Notification.directive_id == directive_id)
    if rungs is not None:
        query = query.where(Notification.rung.in_(rungs))
    result = session.exec(query.values(state="cancelled", last_error=reason[:500]))
    return result.rowcount or 0


def plan_digests(session: Session, *, now: datetime, rules: TimeRules, domain: str) -> int:
    """Plan today's digest for each coordinator (an issuing agency with active directives): working days, 08:00.

    One digest per coordinator covers all its directives (models/oversight/digest.py). It goes out only
    when there is news since the last one or a decision waits on the coordinator; otherwise the day's row
    is kept as ``cancelled`` with the reason, so the day is decided once and later sweeps do nothing.
    Returns the number of digests planned to be sent.
    """
    from models.oversight.digest import digest_key, issuers_due, last_digest, worth_sending

    today = rules.today(now)
    send_at = rules.at_send_hour(today)
    if not rules.calendar.is_working_day(today) or now < send_at:
        return 0
    issuers = issuers_due(session, send_at=send_at)
    keys = {notification_key(digest_key(i), None, "digest", today): i for i in issuers}
    decided = set(session.exec(select(Notification.key).where(Notification.key.in_(list(keys)))).all()) if keys else set()
    planned = 0
    for key, issuer in keys.items():
        if key in decided:
            continue
        send = worth_sending(session, issuer, since=last_digest(session, issuer), now=now)
        row = Notification(key=key, message_id=message_id_for(key, domain), directive_id=None, assignment_id=None,
                           rung="digest", template="digest", on=today, due_at=send_at, to_audience=["coordinator"],
                           cc_audience=[], created_at=now, payload={"issuer": issuer},
                           state="pending" if send else "cancelled",
                           last_error=None if send else "không gửi: không có tin mới và không có việc chờ quyết định")
        session.add(row)
        planned += send
    return planned
