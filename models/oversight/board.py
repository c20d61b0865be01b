"""The board: what a supervisor looks at first, across every active directive, as of an explicit ``now``.

Overdue assignments (most working days late first), those due within five working days, what waits on the
coordinator (a result to review, an extension request, a refusal to decide) and for how long, and the
agency table of the year. A handful of set-based queries whatever the number of directives: the board of
1,000 open directives is built in under a second (bench/board.py). Only the top ``limit`` of each list is
kept, with the count of all (notifications/board.py shows both).

Whether the board must be rebuilt at all (``board_is_current``) is kept in the ``outlet`` row named
``board``: the last event it reflects and when it was built. Everything on it moves with an event (a launch,
a record, a request, a refusal, a closing) or with the business day (the working-day counts).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from models.calendar.timerules import TimeRules
from models.lifecycle.status import DECLINED, OPEN, REPORTED, standing
from models.oversight.figures import figures
from models.oversight.scorecard import ScoreRow
from models.store.tables import Agency, Assignment, AssignmentAgency, Directive, Event, ExtensionRequest, Outlet

SOON_DAYS = 5  # "due within five working days" (issue 14 §4)
OUTLET = "board"
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Item:
    """One assignment on the board."""

    slug: str
    number: str
    key: str
    title: str
    leads: tuple[str, ...]
    due: date | None
    status: str
    days: int | None  # working days late (positive), left (negative), 0 due today; None without a due date
    colour: str  # DESIGN.md §6, as models.lifecycle.status.standing derives it


@dataclass(frozen=True)
class Waiting:
    """Something that waits on the coordinator: ``review`` (a reported result), ``extension`` (a pending
    request, until ``until``) or ``decision`` (a lead declined: reassign or keep)."""

    what: str
    item: Item
    since: datetime
    waited: int  # working days since ``since``
    agency: str | None = None  # who asked (extension) ; the leads otherwise
    until: date | None = None


@dataclass(frozen=True)
class Board:
    """The top ``limit`` of each list, and how many there are in all."""

    now: datetime
    today: date
    span: tuple[date, date]  # the agency table: assignments due in the current year, as of today
    directives: int  # active directives
    open: int  # their unfinished assignments (waiting steps aside)
    overdue: list[Item]  # most working days late first
    due_soon: list[Item]  # soonest first
    waiting: list[Waiting]  # longest waiting first
    agencies: list[ScoreRow]  # every lead agency of the span: most open overdue first, then by rank
    counts: dict[str, int] = field(default_factory=dict)  # overdue, due_soon, waiting: in all
    names: dict[str, str] = field(default_factory=dict)  # agency code → name


def build_board(session: Session, *, now: datetime, rules: TimeRules, limit: int = 20) -> Board:
    today = rules.today(now)
    calendar = rules.calendar
    horizon = calendar.add_working_days(today, SOON_DAYS)
    spans: dict[tuple[date, date], int] = {}

    def between(start: date, end: date) -> int:  # thousands of assignments share a few due dates
        if (start, end) not in spans:
            spans[(start, end)] = calendar.working_days_between(start, end)
        return spans[(start, end)]

    columns = (Assignment.id, Directive.slug, Directive.number, Assignment.key, Assignment.title, Assignment.due,
               Assignment.status, Assignment.done_on)
    active = (Directive.id == Assignment.directive_id) & (Directive.status == "active")
    near = session.exec(select(*columns).join(Directive, active)
                        .where(Assignment.status.in_(OPEN), Assignment.due <= horizon)).all()
    held = session.exec(select(*columns, Assignment.updated_at).join(Directive, active)
                        .where(Assignment.status.in_((REPORTED, DECLINED)))).all()
    asked = session.exec(select(*columns, ExtensionRequest.requested_at, ExtensionRequest.agency_code,
                                ExtensionRequest.until)
                         .join(Directive, active)
                         .join(ExtensionRequest, ExtensionRequest.assignment_id == Assignment.id)
                         .where(ExtensionRequest.state == "pending", Assignment.status.in_(OPEN))).all()

    # Sorted as plain tuples; only the rows shown become Items, with their leads.
    late = sorted(((between(r[5], today), r) for r in near), key=lambda x: (-x[0], x[1][5], _natural(x[1][2]), x[1][3]))
    overdue = [r for days, r in late if days > 0]
    due_soon = sorted((r for days, r in late if -SOON_DAYS <= days <= 0), key=lambda r: (r[5], _natural(r[2]), r[3]))
    pending = sorted([("review" if r[6] == REPORTED else "decision", r) for r in held] +
                     [("extension", r) for r in asked], key=lambda x: (x[1][8], _natural(x[1][2]), x[1][3]))
    shown = overdue[:limit] + due_soon[:limit] + [r for _, r in pending[:limit]]
    leads = _leads(session, {r[0] for r in shown})

    def item(row) -> Item:
        assignment_id, slug, number, key, title, due, status, done_on = row[:8]
        days = between(due, today) if due is not None else None
        colour = standing(status=status, due=due, done_on=done_on, today=today, calendar=calendar).colour \
            if due is not None else "grey"
        return Item(slug=slug, number=number, key=key, title=title, leads=leads.get(assignment_id, ()), due=due,
                    status=status, days=days, colour=colour)

    waiting = [Waiting(what=what, item=item(r), since=r[8], waited=max(0, between(rules.today(r[8]), today)),
                       agency=r[9] if what == "extension" else None, until=r[10] if what == "extension" else None)
               for what, r in pending[:limit]]
    span = (date(today.year, 1, 1), date(today.year, 12, 31))
    table = sorted(figures(session, span=span, now=now, rules=rules, details=False).rows, key=lambda r: (-r.open_overdue, r.rank))
    directives = session.exec(select(func.count()).select_from(Directive).where(Directive.status == "active")).one()
    unfinished = session.exec(select(func.count()).select_from(Assignment).join(Directive, active)
                              .where(Assignment.status.in_((*OPEN, REPORTED, DECLINED)))).one()
    names = dict(session.exec(select(Agency.code, Agency.name)).all())
    return Board(now=now, today=today, span=span, directives=directives, open=unfinished,
                 overdue=[item(r) for r in overdue[:limit]], due_soon=[item(r) for r in due_soon[:limit]],
                 waiting=waiting, agencies=table,
                 counts={"overdue": len(overdue), "due_soon": len(due_soon), "waiting": len(pending)}, names=names)


def _natural(number: str) -> tuple:
    """A directive number's sort key: 9/KH-UBND before 10/KH-UBND."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(number) if part)


def _leads(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    ordered = sorted(ids)
    out: dict[int, list[str]] = {}
    for start in range(0, len(ordered), 5000):
        for assignment_id, code in session.exec(
                select(AssignmentAgency.assignment_id, AssignmentAgency.agency_code)
                .where(AssignmentAgency.assignment_id.in_(ordered[start:start + 5000]), AssignmentAgency.role == "lead")
                .order_by(AssignmentAgency.assignment_id, AssignmentAgency.position)).all():
            out.setdefault(assignment_id, []).append(code)
    return {k: tuple(v) for k, v in out.items()}


def last_event_id(session: Session) -> int:
    return session.exec(select(func.max(Event.id))).one() or 0


def board_is_current(session: Session, *, now: datetime, rules: TimeRules) -> bool:
    """Whether the board last published still holds at ``now``: built earlier the same business day (not on a
    clock since rewound), with no event recorded after it."""
    outlet = session.get(Outlet, OUTLET)
    if outlet is None or outlet.updated_at > now or rules.today(outlet.updated_at) != rules.today(now):
        return False
    return last_event_id(session) == outlet.last_event_id


def mark_board(session: Session, *, now: datetime, event_id: int) -> None:
    """Record that the board as of ``now``, reflecting the trail up to ``event_id``, is published."""
    outlet = session.get(Outlet, OUTLET) or Outlet(name=OUTLET)
    outlet.last_event_id, outlet.updated_at = event_id, now
    session.add(outlet)
