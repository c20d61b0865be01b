"""Assignments as they stood at an instant, replayed from the audit trail.

A report dated D tells the truth as of D: its counts and tables come from the events up to D, not from
the rows as they are now. Replaying every event of a large install would be slow, so only assignments
with an event after D are replayed (``as_of``); the others are read from their rows, which no later event
has changed. ``replay`` is the pure rule, over plain event tuples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, literal, null
from sqlmodel import Session, select

from models.store.tables import Assignment, AssignmentAgency, Directive, Event

CLOSING = "văn bản kết thúc"  # the reason close_directive gives each assignment it cancels


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__, slow at 100k
class State:
    """One assignment at an instant."""

    id: int
    directive_id: int
    key: str
    title: str
    status: str
    due: date | None
    done_on: date | None = None
    reported_on: date | None = None
    leads: tuple[str, ...] = ()
    supporting: tuple[str, ...] = ()
    closed_by_directive: bool = False  # cancelled because its directive closed
    extended: int = 0  # times its due date was moved later
    returned: int = 0  # times its reported result was sent back
    evidence: str | None = None  # the agency's report (số, ký hiệu), as recorded by then
    evidence_on: date | None = None


@dataclass
class _Replay:
    status: str = "assigned"
    due: date | None = None
    done_on: date | None = None
    reported_on: date | None = None
    leads: tuple[str, ...] = ()
    supporting: tuple[str, ...] = ()
    before_decline: str = "assigned"
    closed_by_directive: bool = False
    extended: int = 0
    returned: int = 0
    evidence: str | None = None
    evidence_on: date | None = None
    seen: bool = False


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def replay(events: Iterable[tuple[str, dict[str, Any]]]) -> _Replay | None:
    """The state after ``events`` (kind, payload), oldest first; None when the assignment was not created yet."""
    s = _Replay()
    for kind, p in events:
        if kind == "created":
            s.seen = True
            s.status = "waiting" if p.get("after") else "assigned"
            s.due = _day(p.get("due"))
            s.leads, s.supporting = tuple(p.get("leads", [])), tuple(p.get("supporting", []))
        elif kind == "started":
            s.status, s.due = "assigned", _day(p.get("due")) or s.due
        elif kind == "status":
            s.status = p.get("to", s.status)
            if s.status in ("done", "reported"):
                s.evidence, s.evidence_on = p.get("evidence"), _day(p.get("evidence_on"))
            if s.status == "done":
                s.done_on = _day(p.get("done_on"))
            elif s.status == "reported":
                s.reported_on = _day(p.get("reported_on"))
            elif s.status == "cancelled":
                s.closed_by_directive = str(p.get("reason", "")).startswith(CLOSING)
        elif kind == "reviewed":
            s.status, s.done_on = "done", _day(p.get("done_on"))
        elif kind == "returned":
            s.status, s.reported_on, s.returned = "in_progress", None, s.returned + 1
            s.due = _day(p.get("due")) or s.due
        elif kind == "extended":
            s.due, s.extended = _day(p.get("to")) or s.due, s.extended + 1
        elif kind == "declined":
            s.before_decline, s.status = p.get("from", s.status), "declined"
        elif kind == "decline_refused":
            s.status = s.before_decline
        elif kind == "reassigned":
            s.status, s.due = "assigned", _day(p.get("due")) or s.due
            s.leads, s.supporting = tuple(p.get("leads", [])), tuple(p.get("supporting", []))
    return s if s.seen else None


_COLUMNS = (Assignment.id, Assignment.directive_id, Assignment.key, Assignment.title, Assignment.status, Assignment.due,
            Assignment.done_on, Assignment.reported_on, Assignment.evidence, Assignment.evidence_on)
# What a scorecard needs (``details=False``): no text, half the columns to read at 100,000 assignments.
_BRIEF = (Assignment.id, Assignment.directive_id, literal(""), literal(""), Assignment.status, Assignment.due,
          Assignment.done_on, Assignment.reported_on, null(), null())


def as_of(session: Session, *, at: datetime, due_from: date | None = None, due_until: date | None = None,
          issuer: str | None = None, directive_id: int | None = None, details: bool = True) -> list[State]:
    """Every assignment that existed at ``at``, as it stood then; with ``due_from``/``due_until``, only those due
    in that span (by the due date of the moment), with ``issuer``, only that agency's directives, and with
    ``directive_id``, only that directive's assignments.

    Read as plain columns, with the agencies and counts joined on the same conditions rather than listed by id:
    a scorecard over 100,000 assignments is a handful of queries and no ORM objects.
    """
    # The assignments something happened to after ``at`` are replayed; the index on event.at makes this one
    # range read, empty when the figures are as of now.
    changed = set(session.exec(select(Event.assignment_id).where(Event.at > at, Event.assignment_id.is_not(None))
                               .distinct()).all())

    # Directives launched after ``at`` did not exist then; when there are none (figures as of now), the rows need
    # no join to their directives at all.
    younger = session.exec(select(Directive.id).where(Directive.launched_at > at).limit(1)).first() is not None

    def scoped(query, *, spanned: bool = True):
        if younger or issuer is not None:
            query = query.join(Directive, Directive.id == Assignment.directive_id).where(Directive.launched_at <= at)
        if issuer is not None:
            query = query.where(Directive.issuer == issuer)
        if directive_id is not None:
            query = query.where(Assignment.directive_id == directive_id)
        if spanned and due_from is not None:
            query = query.where(Assignment.due >= due_from)
        if spanned and due_until is not None:
            query = query.where(Assignment.due <= due_until)
        return query

    later = [r for chunk in _chunks(sorted(changed)) for r in session.exec(
        scoped(select(*_COLUMNS), spanned=False).where(Assignment.id.in_(chunk))).all()]
    rows = [r for r in session.exec(scoped(select(*(_COLUMNS if details else _BRIEF)))).all() if r[0] not in changed]
    # The agencies of every assignment due in the span (a superset of the rows: no join to directives, no sort;
    # the few with several agencies are put in their stated order here).
    leads: dict[int, list] = {}
    supporting: dict[int, list] = {}
    roles = select(AssignmentAgency.assignment_id, AssignmentAgency.agency_code, AssignmentAgency.role,
                   AssignmentAgency.position)
    if due_from is not None or due_until is not None or directive_id is not None:
        roles = roles.join(Assignment, Assignment.id == AssignmentAgency.assignment_id)
        if due_from is not None:
            roles = roles.where(Assignment.due >= due_from)
        if due_until is not None:
            roles = roles.where(Assignment.due <= due_until)
        if directive_id is not None:
            roles = roles.where(Assignment.directive_id == directive_id)
    for assignment_id, code, role, position in session.exec(roles).all():
        (leads if role == "lead" else supporting).setdefault(assignment_id, []).append((position, code))
    for found in (leads, supporting):
        for assignment_id, codes in found.items():
            found[assignment_id] = [c for _, c in sorted(codes)] if len(codes) > 1 else [codes[0][1]]
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"extended": 0, "returned": 0})
    # Few events are extensions or returns: count them all, without joining every event to its assignment.
    for assignment_id, kind, n in session.exec(
            select(Event.assignment_id, Event.kind, func.count())
            .where(Event.at <= at, Event.kind.in_(("extended", "returned")))
            .group_by(Event.assignment_id, Event.kind)).all():
        counts[assignment_id][kind] = n
    closing = _closing(session, [r[0] for r in rows if r[4] == "cancelled"], at)
    nothing = {"extended": 0, "returned": 0}
    states = []
    for (id_, directive, key, title, status, due, done_on, reported_on, evidence, evidence_on) in rows:
        count = counts.get(id_, nothing)
        states.append(State(id_, directive, key, title, status, due, done_on, reported_on,
                            tuple(leads.get(id_, ())), tuple(supporting.get(id_, ())), id_ in closing,
                            count["extended"], count["returned"], evidence, evidence_on))
    if later:
        trail: dict[int, list[tuple[str, dict]]] = defaultdict(list)
        ids = [r[0] for r in later]
        for chunk in _chunks(ids):
            for assignment_id, kind, payload in session.exec(
                    select(Event.assignment_id, Event.kind, Event.payload)
                    .where(Event.assignment_id.in_(chunk), Event.at <= at)
                    .order_by(Event.at, Event.id)).all():
                trail[assignment_id].append((kind, payload))
        for (id_, directive, key, title, *_rest) in later:
            s = replay(trail.get(id_, []))
            if s is None:
                continue
            if (due_from is not None and (s.due is None or s.due < due_from)) or \
                    (due_until is not None and (s.due is None or s.due > due_until)):
                continue
            states.append(State(id=id_, directive_id=directive, key=key, title=title, status=s.status,
                                due=s.due, done_on=s.done_on, reported_on=s.reported_on, leads=s.leads,
                                supporting=s.supporting, closed_by_directive=s.closed_by_directive,
                                extended=s.extended, returned=s.returned, evidence=s.evidence,
                                evidence_on=s.evidence_on))
    return sorted(states, key=lambda s: s.id)


def _closing(session: Session, cancelled: list[int], at: datetime) -> set[int]:
    """Which of the cancelled assignments a directive's closing cancelled (only they have their events read)."""
    found = set()
    for chunk in _chunks(cancelled):
        for assignment_id, payload in session.exec(
                select(Event.assignment_id, Event.payload)
                .where(Event.assignment_id.in_(chunk), Event.at <= at, Event.kind == "status")).all():
            if payload.get("to") == "cancelled" and str(payload.get("reason", "")).startswith(CLOSING):
                found.add(assignment_id)
    return found


def _chunks(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
