"""Assignments as they stood at an instant, replayed from the audit trail.

A report dated D tells the truth as of D: its counts and tables come from the events up to D, not from
the rows as they are now. Replaying every event of a large install would be slow, so only assignments
with an event after D are replayed (``as_of``); the others are read from their rows, which no later event
has changed. ``replay`` is the pure rule, over plain event tuples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists
from sqlmodel import Session, select

from models.store.tables import Assignment, AssignmentAgency, Directive, Event

CLOSING = "văn bản kết thúc"  # the reason close_directive gives each assignment it cancels


@dataclass(frozen=True)
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
    seen: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


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


def as_of(session: Session, *, at: datetime, due_from: date | None = None, due_until: date | None = None,
          issuer: str | None = None) -> list[State]:
    """Every assignment that existed at ``at``, as it stood then; with ``due_from``/``due_until``, only those due
    in that span (by the due date of the moment), and with ``issuer``, only that agency's directives."""
    changed = exists().where(Event.assignment_id == Assignment.id, Event.at > at)
    # Plain rows of the columns a State needs, not ORM objects (their JSON columns included): building 100,000
    # Assignment instances cost more than the query itself.
    base = select(*_COLUMNS).join(Directive, Directive.id == Assignment.directive_id).where(Directive.launched_at <= at)
    if issuer is not None:
        base = base.where(Directive.issuer == issuer)
    later = list(session.exec(base.where(changed)).all())
    settled = base.where(~changed)
    if due_from is not None:
        settled = settled.where(Assignment.due >= due_from)
    if due_until is not None:
        settled = settled.where(Assignment.due <= due_until)
    rows = list(session.exec(settled).all())
    roles = _roles(session, [a.id for a in rows])
    counts = _counts(session, rows, at)
    states = [State(id=a.id, directive_id=a.directive_id, key=a.key, title=a.title, status=a.status, due=a.due,
                    done_on=a.done_on, reported_on=a.reported_on, leads=tuple(roles[a.id]["lead"]),
                    supporting=tuple(roles[a.id]["supporting"]),
                    closed_by_directive=a.status == "cancelled" and counts[a.id]["closing"] > 0,
                    extended=counts[a.id]["extended"], returned=counts[a.id]["returned"]) for a in rows]
    if later:
        trail: dict[int, list[tuple[str, dict]]] = defaultdict(list)
        for assignment_id, kind, payload in session.exec(
                select(Event.assignment_id, Event.kind, Event.payload)
                .where(Event.assignment_id.in_([a.id for a in later]), Event.at <= at)
                .order_by(Event.at, Event.id)).all():
            trail[assignment_id].append((kind, payload))
        for a in later:
            s = replay(trail.get(a.id, []))
            if s is None:
                continue
            if (due_from is not None and (s.due is None or s.due < due_from)) or \
                    (due_until is not None and (s.due is None or s.due > due_until)):
                continue
            states.append(State(id=a.id, directive_id=a.directive_id, key=a.key, title=a.title, status=s.status,
                                due=s.due, done_on=s.done_on, reported_on=s.reported_on, leads=s.leads,
                                supporting=s.supporting, closed_by_directive=s.closed_by_directive,
                                extended=s.extended, returned=s.returned))
    return sorted(states, key=lambda s: s.id)


def _roles(session: Session, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    roles: dict[int, dict[str, list[str]]] = defaultdict(lambda: {"lead": [], "supporting": []})
    for chunk in _chunks(ids):
        for assignment_id, code, role in session.exec(
                select(AssignmentAgency.assignment_id, AssignmentAgency.agency_code, AssignmentAgency.role)
                .where(AssignmentAgency.assignment_id.in_(chunk))
                .order_by(AssignmentAgency.assignment_id, AssignmentAgency.position)).all():
            roles[assignment_id][role].append(code)
    return roles


def _counts(session: Session, rows: list[Assignment], at: datetime) -> dict[int, dict[str, int]]:
    """Per assignment: how often it was extended and returned, and whether a directive's closing cancelled it.

    Counted in the database; only the few cancelled assignments have their events read.
    """
    from sqlalchemy import func

    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"extended": 0, "returned": 0, "closing": 0})
    ids = [a.id for a in rows]
    for chunk in _chunks(ids):
        for assignment_id, kind, n in session.exec(
                select(Event.assignment_id, Event.kind, func.count())
                .where(Event.assignment_id.in_(chunk), Event.at <= at, Event.kind.in_(("extended", "returned")))
                .group_by(Event.assignment_id, Event.kind)).all():
            counts[assignment_id][kind] = n
    cancelled = [a.id for a in rows if a.status == "cancelled"]
    for chunk in _chunks(cancelled):
        for assignment_id, payload in session.exec(
                select(Event.assignment_id, Event.payload)
                .where(Event.assignment_id.in_(chunk), Event.at <= at, Event.kind == "status")).all():
            if payload.get("to") == "cancelled" and str(payload.get("reason", "")).startswith(CLOSING):
                counts[assignment_id]["closing"] += 1
    return counts


def _chunks(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
