"""Changing assignments: recording what agencies report, extending, and closing directives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, select

from models.errors import InputError
from models.lifecycle.ladder import DATED_RUNGS
from models.lifecycle.planning import acted, add_row, cancel_pending, plan_assignment, plan_review_request
from models.lifecycle.queries import agencies_of, get_assignment
from models.lifecycle.status import CLOSED, LABELS, OPEN, REPORTED, UNFINISHED, check_transition
from models.lifecycle.occurrences import live_series, stop_series
from models.lifecycle.steps import start_ready
from models.store.tables import Assignment, Directive, Event
from models.textcheck import check_text
from models.calendar.timerules import TimeRules


@dataclass
class Recorded:
    slug: str
    key: str
    status: str
    closed: bool = False
    cancelled: list[str] = field(default_factory=list)
    open_dependencies: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # waiting steps this one's end started


def _refuse_if_closed(directive: Directive) -> None:
    if directive.status == "closed":
        raise InputError(f"văn bản {directive.number} đã kết thúc; không ghi nhận thêm")


def record_update(
    session: Session,
    *,
    slug: str,
    key: str,
    status: str,
    now: datetime,
    rules: TimeRules,
    actor: str,
    evidence: str | None = None,
    evidence_on: date | None = None,
    note: str | None = None,
    mail_domain: str = "localhost",
    attachment: dict | None = None,
    by_agency: bool = False,
) -> Recorded:
    """Move an assignment along its life cycle; the milestone's completion closes the directive.

    ``by_agency``: the agency itself reports (its reply page, a simulated agency). Where the directive has
    review on, its completion is then ``reported`` and waits for the coordinator (models/lifecycle/review.py);
    a completion the coordinator records is accepted at once.
    """
    check_text(evidence, "number", name="evidence", label="số, ký hiệu văn bản báo cáo")
    check_text(note, "note", name="note", label="ghi chú")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    _refuse_if_closed(directive)
    check_transition(assignment.status, status)
    today = rules.today(now)
    if evidence_on is not None and evidence_on > today:
        raise InputError(f"ngày của văn bản báo cáo ({evidence_on:%d/%m/%Y}) không thể sau ngày ghi nhận ({today:%d/%m/%Y})")
    if evidence_on is not None and evidence_on < directive.issued_on:
        raise InputError(early_evidence(evidence_on, directive.number, directive.issued_on))
    if status == "done" and by_agency and directive.definition.get("review"):
        status = REPORTED
    previous = assignment.status
    assignment.status = status
    assignment.updated_at = now
    payload: dict = {"from": previous, "to": status}
    if note:
        payload["note"] = note
    if attachment:
        payload["document"] = attachment
    if status in ("done", REPORTED):
        assignment.evidence = evidence
        assignment.evidence_on = evidence_on or (today if evidence else None)
        payload.update(evidence=evidence, evidence_on=assignment.evidence_on.isoformat() if assignment.evidence_on else None)
    if status == "done":
        assignment.done_on = today
        payload.update(done_on=today.isoformat(), late=today > assignment.due)
    elif status == REPORTED:
        assignment.reported_on = today
        payload.update(reported_on=today.isoformat(), late=today > assignment.due)
    elif evidence:
        payload["evidence"] = evidence
    session.add(assignment)
    session.add(Event(at=now, actor=actor, kind="status", directive_id=directive.id, assignment_id=assignment.id, payload=payload))
    acted(session, assignment_id=assignment.id, actor=actor, now=now,
          leads=agencies_of(session, [assignment.id])[assignment.id]["lead"])

    result = Recorded(slug=slug, key=key, status=status)
    if status == REPORTED:
        # The agency has done its part: its rungs stop, and the coordinator is asked to decide.
        cancel_pending(session, now=now, assignment_id=assignment.id, rungs=DATED_RUNGS,
                       reason=f"nhiệm vụ {key} đã báo cáo hoàn thành, chờ xác nhận")
        plan_review_request(session, directive=directive, assignment=assignment, now=now, rules=rules,
                            domain=mail_domain)
    elif status == "done":
        result = finish(session, directive=directive, assignment=assignment, now=now, rules=rules, actor=actor,
                        mail_domain=mail_domain)
    elif status in CLOSED:
        cancel_pending(session, now=now, assignment_id=assignment.id, reason=f"nhiệm vụ {key} đã hủy")
        result.started = start_ready(session, directive=directive, now=now, rules=rules, actor=actor,
                                     mail_domain=mail_domain)
    session.flush()
    return result


def finish(session: Session, *, directive: Directive, assignment: Assignment, now: datetime, rules: TimeRules,
           actor: str, mail_domain: str) -> Recorded:
    """What a completion sets off: its rows cancelled, the milestone closing the directive, or the next steps."""
    key = assignment.key
    result = Recorded(slug=directive.slug, key=key, status=assignment.status)
    cancel_pending(session, now=now, assignment_id=assignment.id, reason=f"nhiệm vụ {key} đã hoàn thành")
    siblings = _assignments(session, directive)
    if assignment.milestone:
        by_key = {a.key: a for a in siblings}
        result.open_dependencies = [d for d in assignment.depends_on if by_key[d].status in UNFINISHED]
        result.cancelled = close_directive(
            session, directive=directive, now=now, actor=actor, mail_domain=mail_domain,
            reason=f"mốc hoàn thành «{assignment.key}» đã hoàn thành",
        )
        result.closed = True
    elif directive.milestone is None and all(a.status in CLOSED for a in siblings) \
            and not live_series(session, directive.id):
        close_directive(session, directive=directive, now=now, actor=actor, mail_domain=mail_domain,
                        reason="mọi nhiệm vụ đã kết thúc")
        result.closed = True
    if not result.closed:
        session.flush()
        result.started = start_ready(session, directive=directive, now=now, rules=rules, actor=actor,
                                     mail_domain=mail_domain)
    return result


def close_directive(
    session: Session, *, directive: Directive, now: datetime, actor: str, reason: str, mail_domain: str = "localhost"
) -> list[str]:
    """Close the directive, cancel its open assignments and pending messages, and plan the closing notice."""
    cancelled = []
    for other in _assignments(session, directive):
        if other.status in UNFINISHED:
            previous = other.status
            other.status = "cancelled"
            other.updated_at = now
            session.add(other)
            session.add(Event(at=now, actor=actor, kind="status", directive_id=directive.id, assignment_id=other.id,
                              payload={"from": previous, "to": "cancelled", "reason": f"văn bản kết thúc: {reason}"}))
            cancelled.append(other.key)
    stop_series(session, directive_id=directive.id)
    directive.status = "closed"
    directive.closed_at = now
    session.add(directive)
    cancel_pending(session, now=now, directive_id=directive.id, reason=f"văn bản kết thúc: {reason}")
    add_row(session, directive=directive, assignment=None, rung="closed", template="closed", on=None, due_at=now,
            to=["participants"], cc=["director", "provincial-office"], now=now, domain=mail_domain)
    session.add(Event(at=now, actor=actor, kind="closed", directive_id=directive.id,
                      payload={"reason": reason, "cancelled": cancelled}))
    return cancelled


def early_evidence(evidence_on: date, number: str, issued_on: date) -> str:
    """Why a report document dated before the directive cannot answer it (shared with the reply page)."""
    return (f"ngày của văn bản báo cáo ({evidence_on:%d/%m/%Y}) không thể trước ngày ban hành văn bản "
            f"{number} ({issued_on:%d/%m/%Y})")


@dataclass
class Extended:
    slug: str
    key: str
    previous: date
    due: date


def extend_assignment(
    session: Session, *, slug: str, key: str, until: date, reason: str, now: datetime, rules: TimeRules, actor: str,
    mail_domain: str = "localhost",
) -> Extended:
    """Move an open assignment's due date later and re-plan its ladder; its state is kept."""
    check_text(reason, "note", name="reason", label="lý do gia hạn")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    _refuse_if_closed(directive)
    if assignment.status not in OPEN:
        raise InputError(f"nhiệm vụ {key} đã ở trạng thái «{LABELS[assignment.status]}»; không gia hạn được")
    if not reason or not reason.strip():
        raise InputError("cần nêu lý do gia hạn (--reason)")
    due = rules.calendar.roll_forward(until)
    if due <= assignment.due:
        raise InputError(f"hạn mới {due:%d/%m/%Y} phải sau hạn hiện tại {assignment.due:%d/%m/%Y}")
    previous = assignment.due
    assignment.due = due
    assignment.updated_at = now
    session.add(assignment)
    session.add(Event(at=now, actor=actor, kind="extended", directive_id=directive.id, assignment_id=assignment.id,
                      payload={"from": previous.isoformat(), "to": due.isoformat(), "requested": until.isoformat(), "reason": reason.strip()}))
    # The dated rungs follow the due date; the notice and any message about the extension itself stay.
    cancel_pending(session, now=now, assignment_id=assignment.id, rungs=DATED_RUNGS,
                   reason=f"gia hạn đến {due:%d/%m/%Y}")
    session.flush()
    plan_assignment(session, directive=directive, assignment=assignment, now=now, rules=rules, domain=mail_domain,
                    include_launch=False)
    session.flush()
    return Extended(slug=slug, key=key, previous=previous, due=due)


def _assignments(session: Session, directive: Directive) -> list[Assignment]:
    return list(session.exec(select(Assignment).where(Assignment.directive_id == directive.id)).all())
