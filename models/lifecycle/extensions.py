"""Extension requests (gia hạn): an agency asks, the coordinator approves or refuses, both are told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from models.errors import InputError
from models.lifecycle.queries import agencies_of, get_assignment
from models.lifecycle.status import LABELS, OPEN
from models.store.tables import Assignment, Directive, Event, ExtensionRequest
from models.calendar.timerules import TimeRules
from models.textcheck import check_text


# Planning a message (models.lifecycle.planning, and the directive schema it reads ladders with) is imported by the
# functions that write: `dondoc extensions` only lists, and must start quickly.

ALREADY_PENDING = "nhiệm vụ đã có một đề nghị gia hạn đang chờ quyết định"
ONE_PENDING_INDEX = "uq_extension_request_one_pending"  # see models/store/tables.py


@dataclass(frozen=True)
class PendingRequest:
    id: int
    slug: str
    key: str
    agency: str
    requested_at: datetime
    current_due: date
    until: date
    reason: str


def request_extension(session: Session, *, slug: str, key: str, agency: str | None, until: date, reason: str,
                      now: datetime, rules: TimeRules, mail_domain: str = "localhost") -> ExtensionRequest:
    """Record a lead agency's request (the first lead when ``agency`` is None) and notify the coordinator."""
    from models.lifecycle.planning import acted, add_row

    check_text(reason, "note", name="reason", label="lý do đề nghị gia hạn")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    leads = agencies_of(session, [assignment.id])[assignment.id]["lead"]
    agency = agency or leads[0]
    if agency not in leads:
        raise InputError(f"chỉ đơn vị chủ trì ({', '.join(leads)}) mới đề nghị gia hạn nhiệm vụ {key}")
    if directive.status != "active":
        raise InputError(f"văn bản {directive.number} đã kết thúc; không thể đề nghị gia hạn")
    if assignment.status not in OPEN:
        raise InputError(f"nhiệm vụ đã ở trạng thái «{LABELS[assignment.status]}»; không thể đề nghị gia hạn")
    if not reason.strip():
        raise InputError("cần nêu lý do đề nghị gia hạn")
    if until <= assignment.due:
        raise InputError(f"ngày đề nghị {until:%d/%m/%Y} phải sau thời hạn hiện tại {assignment.due:%d/%m/%Y}")
    if pending_for(session, assignment.id) is not None:
        raise InputError(ALREADY_PENDING)
    request = ExtensionRequest(assignment_id=assignment.id, agency_code=agency, requested_at=now, until=until,
                               reason=reason.strip())
    session.add(request)
    try:
        session.flush()
    except IntegrityError as exc:
        # Two requests raced past the check above: the database's one-pending-request index let the first in
        # (the second waited for it to commit). The transaction is spoilt either way; the caller rolls it back.
        if ONE_PENDING_INDEX in str(exc.orig) or "extension_request.assignment_id" in str(exc.orig):
            raise InputError(ALREADY_PENDING) from None
        raise
    acted(session, assignment_id=assignment.id, actor=agency, leads=leads, now=now)
    session.add(Event(at=now, actor=agency, kind="extension_requested", directive_id=directive.id,
                      assignment_id=assignment.id,
                      payload={"until": until.isoformat(), "reason": request.reason, "request": request.id}))
    add_row(session, directive=directive, assignment=assignment, rung="extension-request", template="extension-request",
            on=rules.today(now), due_at=now, to=["coordinator"], cc=[], now=now, domain=mail_domain,
            tag=str(request.id), payload={"request": request.id})
    session.flush()
    return request


def pending_for(session: Session, assignment_id: int) -> ExtensionRequest | None:
    return session.exec(
        select(ExtensionRequest).where(ExtensionRequest.assignment_id == assignment_id, ExtensionRequest.state == "pending")
    ).first()


def pending_requests(session: Session, *, directive_id: int | None = None) -> list[PendingRequest]:
    query = (
        select(ExtensionRequest, Assignment, Directive)
        .join(Assignment, Assignment.id == ExtensionRequest.assignment_id)
        .join(Directive, Directive.id == Assignment.directive_id)
        .where(ExtensionRequest.state == "pending", Assignment.status.in_(OPEN), Directive.status == "active")
        .order_by(ExtensionRequest.requested_at)
    )
    if directive_id is not None:
        query = query.where(Directive.id == directive_id)
    return [PendingRequest(id=r.id, slug=d.slug, key=a.key, agency=r.agency_code, requested_at=r.requested_at,
                           current_due=a.due, until=r.until, reason=r.reason)
            for r, a, d in session.exec(query).all()]


def decide_extension(session: Session, *, slug: str, key: str, approve: bool, reason: str, now: datetime,
                     rules: TimeRules, actor: str, until: date | None = None, mail_domain: str = "localhost") -> dict:
    """Approve (moving the due date and re-planning) or refuse; the lead agencies are told either way.

    Approving without a pending request is the coordinator extending on their own initiative.
    """
    from models.lifecycle.planning import add_row
    from models.lifecycle.updates import extend_assignment

    check_text(reason, "note", name="reason", label="lý do")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    request = pending_for(session, assignment.id)
    if not reason or not reason.strip():
        raise InputError("cần nêu lý do (--reason)")
    if not approve and request is None:
        raise InputError(f"nhiệm vụ {key} không có đề nghị gia hạn nào đang chờ để từ chối")
    decision: dict = {"approved": approve, "reason": reason.strip(), "request": request.id if request else None}
    if approve:
        target = until or (request.until if request else None)
        if target is None:
            raise InputError("cần nêu hạn mới (--until)")
        extended = extend_assignment(session, slug=slug, key=key, until=target, reason=reason, now=now, rules=rules,
                                     actor=actor, mail_domain=mail_domain)
        decision.update(previous=extended.previous.isoformat(), due=extended.due.isoformat())
    if request is not None:
        request.state = "approved" if approve else "rejected"
        request.decided_at, request.decided_by, request.decision_reason = now, actor, reason.strip()
        session.add(request)
    if not approve:
        session.add(Event(at=now, actor=actor, kind="extension_rejected", directive_id=directive.id,
                          assignment_id=assignment.id, payload={"request": request.id, "reason": reason.strip()}))
    add_row(session, directive=directive, assignment=assignment, rung="extension-decision", template="extension-decision",
            on=rules.today(now), due_at=now, to=["leads"], cc=[], now=now, domain=mail_domain,
            tag=str(request.id) if request else f"c{len(_decisions(session, assignment.id))}", payload=decision)
    session.flush()
    return decision


def _decisions(session: Session, assignment_id: int) -> list[int]:
    return list(session.exec(select(Event.id).where(Event.assignment_id == assignment_id, Event.kind == "extended")).all())
