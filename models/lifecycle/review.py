"""Review of reported results: the coordinator accepts a completion an agency reported, or returns it.

With ``review: true`` a directive's agencies report completion as ``reported``
("Chờ xác nhận"). Accepting makes it ``done`` on the day the agency reported, so
on time or late is judged by that day; returning sends it back to
``in_progress`` with the reason, maybe a new due date, and a new ladder from
that moment. Both are events, and both reach the leads by mail (rungs
``accepted`` and ``returned``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from models.calendar.timerules import TimeRules
from models.errors import InputError
from models.lifecycle.ladder import DATED_RUNGS
from models.lifecycle.planning import add_row, cancel_pending, plan_assignment
from models.lifecycle.queries import get_assignment
from models.lifecycle.status import LABELS, REPORTED
from models.lifecycle.updates import finish
from models.store.tables import Event
from models.textcheck import check_text


@dataclass
class Reviewed:
    slug: str
    key: str
    accepted: bool
    status: str
    due: date | None = None
    closed: bool = False
    cancelled: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


def review_result(session: Session, *, slug: str, key: str, accept: bool, now: datetime, rules: TimeRules, actor: str,
                  reason: str | None = None, until: date | None = None, mail_domain: str = "localhost") -> Reviewed:
    """Accept the reported result (``reason`` is then an optional note) or return it (``reason`` required)."""
    check_text(reason, "note", name="reason", label="lý do" if not accept else "ghi chú")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    if directive.status != "active":
        raise InputError(f"văn bản {directive.number} đã kết thúc; không xem xét thêm")
    if assignment.status != REPORTED:
        raise InputError(f"nhiệm vụ {key} đang ở trạng thái «{LABELS[assignment.status]}», "
                         "không có kết quả nào chờ xác nhận")
    reason = (reason or "").strip() or None
    if accept and until is not None:
        raise InputError("chỉ khi trả lại (--return) mới nêu hạn mới (--until)")
    if not accept and not reason:
        raise InputError("cần nêu lý do trả lại, yêu cầu bổ sung (--reason)")
    today = rules.today(now)
    cancel_pending(session, now=now, assignment_id=assignment.id, rungs=("review-request",),
                   reason="điều phối viên đã xem xét kết quả")
    reported_on = assignment.reported_on or today
    assignment.updated_at = now
    if accept:
        assignment.status = "done"
        assignment.done_on = reported_on  # judged on time or late by the day the agency reported
        payload = {"from": REPORTED, "to": "done", "accepted": True, "reported_on": reported_on.isoformat(),
                   "done_on": reported_on.isoformat(), "late": reported_on > assignment.due}
        if reason:
            payload["note"] = reason
        session.add(assignment)
        session.add(Event(at=now, actor=actor, kind="reviewed", directive_id=directive.id,
                          assignment_id=assignment.id, payload=payload))
        session.flush()
        done = finish(session, directive=directive, assignment=assignment, now=now, rules=rules, actor=actor,
                      mail_domain=mail_domain)
        # After finish, which cancels what was still planned for the assignment; the outbox's tidy lets it go.
        add_row(session, directive=directive, assignment=assignment, rung="accepted", template="accepted",
                on=today, due_at=now, to=["leads"], cc=[], now=now, domain=mail_domain, payload=payload,
                tag=_count(session, assignment.id))
        session.flush()
        return Reviewed(slug=slug, key=key, accepted=True, status="done", due=assignment.due, closed=done.closed,
                        cancelled=done.cancelled, started=done.started)

    due = rules.calendar.roll_forward(until) if until is not None else assignment.due
    if until is not None and due < today:
        raise InputError(f"hạn mới {due:%d/%m/%Y} không thể trước hôm nay ({today:%d/%m/%Y})")
    previous_due = assignment.due
    assignment.status = "in_progress"
    assignment.due = due
    assignment.reported_on = None
    assignment.done_on = None
    payload = {"from": REPORTED, "to": "in_progress", "accepted": False, "reason": reason,
               "reported_on": reported_on.isoformat(), "due": due.isoformat(), "previous_due": previous_due.isoformat()}
    session.add(assignment)
    session.add(Event(at=now, actor=actor, kind="returned", directive_id=directive.id, assignment_id=assignment.id,
                      payload=payload))
    add_row(session, directive=directive, assignment=assignment, rung="returned", template="returned", on=today,
            due_at=now, to=["leads"], cc=[], now=now, domain=mail_domain, payload=payload,
            tag=_count(session, assignment.id))
    # The ladder again, from this moment: the rungs still ahead of the (maybe new) due date.
    cancel_pending(session, now=now, assignment_id=assignment.id, rungs=DATED_RUNGS, reason="trả lại, lập lại lịch nhắc")
    session.flush()
    plan_assignment(session, directive=directive, assignment=assignment, now=now, rules=rules, domain=mail_domain,
                    include_launch=False)
    session.flush()
    return Reviewed(slug=slug, key=key, accepted=False, status="in_progress", due=due)


def _count(session: Session, assignment_id: int) -> str:
    """Tells apart two decisions on one assignment on one day (returned, reported again, returned)."""
    from sqlmodel import select

    n = len(session.exec(select(Event.id).where(Event.assignment_id == assignment_id,
                                                Event.kind.in_(("reviewed", "returned")))).all())
    return str(n)
