"""Refusal and reassignment: "Không thuộc chức năng, nhiệm vụ của đơn vị".

A lead may decline its assignment with a reason. The coordinator is told at
once (rung ``declined``) and the assignment's ladder pauses until they decide:
reassign it to other leads (the new leads get a notice, the old leads' links
stop working, the ladder is planned again), or keep it with the agency that
declined (it is told, rung ``decline-refused``, and its ladder resumes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, delete, select

from models.calendar.timerules import TimeRules
from models.errors import InputError
from models.lifecycle.ladder import DATED_RUNGS, ladder_of
from models.lifecycle.planning import acted, add_row, cancel_pending, plan_assignment, plan_unacknowledged
from models.lifecycle.queries import agencies_of, get_assignment
from models.lifecycle.status import DECLINED, LABELS, OPEN
from models.store.tables import Agency, AssignmentAgency, Event
from models.textcheck import check_text

DECLINE_WORDS = "Không thuộc chức năng, nhiệm vụ của đơn vị"


@dataclass
class Reassigned:
    slug: str
    key: str
    leads: list[str]
    supporting: list[str]
    due: date
    kept: bool = False


def decline(session: Session, *, slug: str, key: str, agency: str, reason: str, now: datetime, rules: TimeRules,
            mail_domain: str = "localhost") -> None:
    """A lead returns its assignment as not within its functions; the coordinator is asked to decide."""
    check_text(reason, "note", name="reason", label="lý do")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    leads = agencies_of(session, [assignment.id])[assignment.id]["lead"]
    if agency not in leads:
        raise InputError(f"chỉ đơn vị chủ trì ({', '.join(leads)}) mới từ chối được nhiệm vụ {key}")
    if directive.status != "active" or assignment.status not in OPEN:
        raise InputError(f"nhiệm vụ {key} đang ở trạng thái «{LABELS[assignment.status]}»; không từ chối được")
    if not reason or not reason.strip():
        raise InputError("cần nêu lý do từ chối")
    previous = assignment.status
    assignment.status, assignment.updated_at = DECLINED, now
    session.add(assignment)
    acted(session, assignment_id=assignment.id, actor=agency, leads=leads, now=now)
    # The ladder pauses: nothing more to an agency that says the work is not its own, until the decision.
    cancel_pending(session, now=now, assignment_id=assignment.id, rungs=DATED_RUNGS,
                   reason=f"{agency} từ chối nhiệm vụ, chờ quyết định")
    payload = {"from": previous, "reason": reason.strip(), "agency": agency}
    session.add(Event(at=now, actor=agency, kind="declined", directive_id=directive.id, assignment_id=assignment.id,
                      payload=payload))
    add_row(session, directive=directive, assignment=assignment, rung="declined", template="declined",
            on=rules.today(now), due_at=now, to=["coordinator"], cc=[], now=now, domain=mail_domain,
            tag=_decisions(session, assignment.id), payload=payload)
    session.flush()


def reassign(session: Session, *, slug: str, key: str, reason: str, now: datetime, rules: TimeRules, actor: str,
             leads: list[str] | None = None, supporting: list[str] | None = None, until: date | None = None,
             keep: bool = False, mail_domain: str = "localhost") -> Reassigned:
    """Give the assignment to ``leads`` (and ``supporting``, if given), or ``keep`` it with its leads."""
    check_text(reason, "note", name="reason", label="lý do")
    directive, assignment = get_assignment(session, slug=slug, key=key)
    if directive.status != "active":
        raise InputError(f"văn bản {directive.number} đã kết thúc; không giao lại được")
    if not reason or not reason.strip():
        raise InputError("cần nêu lý do (--reason)")
    roles = agencies_of(session, [assignment.id])[assignment.id]
    today = rules.today(now)
    if keep:
        if leads or supporting or until:
            raise InputError("--keep không dùng cùng --leads, --supporting hay --until")
        if assignment.status != DECLINED:
            raise InputError(f"nhiệm vụ {key} không có lời từ chối nào chờ quyết định")
        refusal = _last_refusal(session, assignment.id)
        assignment.status = refusal.payload.get("from", "assigned") if refusal else "assigned"
        assignment.updated_at = now
        session.add(assignment)
        payload = {"reason": reason.strip(), "declined": refusal.payload.get("reason") if refusal else None}
        session.add(Event(at=now, actor=actor, kind="decline_refused", directive_id=directive.id,
                          assignment_id=assignment.id, payload=payload))
        add_row(session, directive=directive, assignment=assignment, rung="decline-refused", template="decline-refused",
                on=today, due_at=now, to=["leads"], cc=[], now=now, domain=mail_domain,
                tag=_decisions(session, assignment.id), payload=payload)
        session.flush()
        plan_assignment(session, directive=directive, assignment=assignment, now=now, rules=rules, domain=mail_domain,
                        include_launch=False)  # the ladder resumes: its rungs still ahead
        session.flush()
        return Reassigned(slug=slug, key=key, leads=roles["lead"], supporting=roles["supporting"], due=assignment.due,
                          kept=True)

    if assignment.status not in (*OPEN, DECLINED):
        raise InputError(f"nhiệm vụ {key} đang ở trạng thái «{LABELS[assignment.status]}»; không giao lại được")
    leads = list(dict.fromkeys(leads or []))
    supporting = list(dict.fromkeys(supporting)) if supporting is not None else [
        c for c in roles["supporting"] if c not in leads]
    if not leads:
        raise InputError("cần nêu đơn vị chủ trì mới (--leads)")
    known = set(session.exec(select(Agency.code).where(Agency.code.in_(leads + supporting))).all())
    unknown = [c for c in leads + supporting if c not in known]
    if unknown:
        raise InputError(f"mã cơ quan không có trong danh mục: {', '.join(unknown)}")
    if set(leads) & set(supporting):
        raise InputError(f"cơ quan vừa chủ trì vừa phối hợp: {', '.join(sorted(set(leads) & set(supporting)))}")
    due = rules.calendar.roll_forward(until) if until is not None else assignment.due
    if due < today:
        raise InputError(f"hạn {due:%d/%m/%Y} đã qua; nêu hạn mới (--until)")
    previous = {"leads": roles["lead"], "supporting": roles["supporting"], "due": assignment.due.isoformat(),
                "status": assignment.status}
    session.exec(delete(AssignmentAgency).where(AssignmentAgency.assignment_id == assignment.id))
    for role, codes in (("lead", leads), ("supporting", supporting)):
        for position, code in enumerate(codes):
            session.add(AssignmentAgency(assignment_id=assignment.id, agency_code=code, role=role, position=position))
    assignment.status, assignment.due, assignment.updated_at = "assigned", due, now
    session.add(assignment)
    payload = {"reason": reason.strip(), "leads": leads, "supporting": supporting, "due": due.isoformat(),
               "previous": previous}
    session.add(Event(at=now, actor=actor, kind="reassigned", directive_id=directive.id, assignment_id=assignment.id,
                      payload=payload))
    # Everything planned for the old leads goes; the new ones get a notice now, and the ladder from here.
    cancel_pending(session, now=now, assignment_id=assignment.id, reason="giao lại cho đơn vị khác")
    session.flush()
    notice = next((r for r in ladder_of(directive.definition) if r.rung == "notice"), None)
    if notice is not None:
        add_row(session, directive=directive, assignment=assignment, rung="notice", template=notice.template_name,
                on=today, due_at=now, to=list(notice.to), cc=list(notice.cc), now=now, domain=mail_domain,
                tag=f"r{_decisions(session, assignment.id)}")
    plan_assignment(session, directive=directive, assignment=assignment, now=now, rules=rules, domain=mail_domain,
                    include_launch=False)
    plan_unacknowledged(session, directive=directive, assignment=assignment, now=now, rules=rules, domain=mail_domain,
                        leads=leads)
    session.flush()
    return Reassigned(slug=slug, key=key, leads=leads, supporting=supporting, due=due)


def _last_refusal(session: Session, assignment_id: int) -> Event | None:
    return session.exec(select(Event).where(Event.assignment_id == assignment_id, Event.kind == "declined")
                        .order_by(Event.id.desc())).first()


def _decisions(session: Session, assignment_id: int) -> str:
    """Tells apart messages of one kind about one assignment on one day."""
    return str(len(session.exec(select(Event.id).where(
        Event.assignment_id == assignment_id,
        Event.kind.in_(("declined", "decline_refused", "reassigned")))).all()))
