"""The assignment feed: what an outside event stream (Prefect's Event Feed) is told about assignments.

The audit trail (``event``) is the truth; the feed is a view of it, read in id order from a cursor kept in
the ``outlet`` table, plus two changes no audit row records because nothing is stored when they happen:

- ``overdue``: an open assignment's first overdue day. Overdue is derived from the due date and the day
  (models/lifecycle/status.py), so a sweep on day T names the open assignments that were not late on the day
  of the previous sweep and are late on T (``newly_overdue``: one indexed range on ``assignment.due``);
- ``escalated``: the escalation rung went out; the dispatcher that marks the row sent reports it
  (notifications/dispatch.py).

Each feed event is named ``dondoc.assignment.<what>`` and concerns the resource
``dondoc.assignment.<slug>.<key>`` (an occurrence's ``<key>/<period>`` with the slash as a dot, as every part of
a resource id here is dot-separated: ``dondoc.assignment.bao-cao.monthly-report.2021-01``). Its related
resources are the directive (role ``directive``) and each agency (roles ``lead`` and ``supporting``); its payload
holds the due date, the working days late and the status. Free text (notes, reasons, evidence) never goes out:
the payload says what changed, the audit trail why.

Everything here is plain data and pure functions, with the database reads at the end of the module.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from models.calendar.workdays import WorkCalendar
from models.lifecycle.status import OPEN, WAITING
from models.store.tables import Agency, Assignment, AssignmentAgency, Directive, Event, Outlet
from models.textcheck import shown

PREFIX = "dondoc.assignment"
WHATS = ("assigned", "started", "acknowledged", "reported", "accepted", "returned", "done", "overdue", "escalated",
         "extended", "declined", "reassigned", "cancelled")
OUTLET = "prefect-events"  # the audit trail's cursor: last_event_id
DERIVED_OUTLET = "prefect-derived"  # the derived changes' cursor: updated_at, the instant of the last sweep that named them
NAME_LIMIT = 120  # characters of a title or name shown in the feed
FIRST_RUN_DAYS = 7  # a feed's first run starts this far back (Prefect keeps events for 7 days by default)

_STATUS_WHAT = {"acknowledged": "acknowledged", "reported": "reported", "done": "done", "cancelled": "cancelled"}


def whats_of(kind: str, payload: dict[str, Any]) -> list[str]:
    """The feed events an audit row becomes (none, one, or two for an accepted result).

    - ``created`` is ``assigned``, except for a step that waits for others (``after``): that one emits
      ``started`` when it starts, from its ``started`` row;
    - ``status`` to acknowledged, reported, done or cancelled is that word; to ``in_progress`` (a progress report,
      which may repeat) is nothing: it is not among the feed's words, and the ladder does not change with it;
    - ``reviewed`` (accepted) is ``accepted`` then ``done``; ``returned``, ``extended``, ``declined`` and
      ``reassigned`` are themselves;
    - ``decline_refused`` (``dondoc reassign --keep``: the coordinator keeps the assignment with its leads after a
      refusal) is ``reassigned``, with ``kept: true`` in the payload;
    - everything else (launched, closed, series, extension requests and refusals, requeued messages) is not a
      change of an assignment, or comes as one per assignment already (closing cancels each with a ``status`` row).
    """
    if kind == "created":
        return [] if "after" in payload else ["assigned"]
    if kind == "status":
        what = _STATUS_WHAT.get(payload.get("to", ""))
        return [what] if what else []
    if kind == "reviewed":
        return ["accepted", "done"] if payload.get("accepted", True) else []
    if kind in ("started", "returned", "extended", "declined", "reassigned"):
        return [kind]
    if kind == "decline_refused":
        return ["reassigned"]
    return []


@dataclass(frozen=True)
class State:
    """An assignment's due date, status and agencies at one moment."""

    due: date | None
    status: str
    leads: tuple[str, ...]
    supporting: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """One audit row, as the feed reads it."""

    id: int
    at: datetime
    kind: str
    actor: str
    assignment_id: int
    payload: dict[str, Any]


def _iso(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def states_at(changes: Sequence[Change], current: dict[int, State]) -> dict[int, State]:
    """Each change's assignment as it stood just after the change, by change id.

    ``changes`` are in id order and must include every later change of their assignments that moves a due
    date, a status or the agencies; ``current`` is each assignment as stored now. Walking back from now, each
    change's own payload gives what it set where it says so, and what it replaced becomes the state before it.
    """
    running = dict(current)
    after: dict[int, State] = {}
    for change in reversed(changes):
        if change.assignment_id not in running:
            continue
        state = running[change.assignment_id]
        p = change.payload
        if change.kind in ("created", "started", "reassigned") or (change.kind == "returned" and "due" in p):
            state = replace(state, due=_iso(p.get("due")) or state.due)
        if change.kind == "extended":
            state = replace(state, due=_iso(p.get("to")) or state.due)
        if change.kind in ("created", "reassigned") and "leads" in p:
            state = replace(state, leads=tuple(p.get("leads") or ()), supporting=tuple(p.get("supporting") or ()))
        after[change.id] = state
        # The state before it: what it replaced.
        before = state
        if change.kind == "extended":
            before = replace(before, due=_iso(p.get("from")) or before.due)
        elif change.kind == "returned":
            before = replace(before, status="reported", due=_iso(p.get("previous_due")) or before.due)
        elif change.kind == "reviewed":
            before = replace(before, status="reported")
        elif change.kind == "status" and p.get("from"):
            before = replace(before, status=p["from"])
        elif change.kind == "declined" and p.get("from"):
            before = replace(before, status=p["from"])
        elif change.kind == "decline_refused":
            before = replace(before, status="declined")
        elif change.kind == "started":
            before = replace(before, status=WAITING)
        elif change.kind == "reassigned":
            previous = p.get("previous") or {}
            before = replace(before, status=previous.get("status", before.status),
                             due=_iso(previous.get("due")) or before.due,
                             leads=tuple(previous.get("leads", before.leads)),
                             supporting=tuple(previous.get("supporting", before.supporting)))
        running[change.assignment_id] = before
    return after


STATE_KINDS = ("created", "started", "status", "reviewed", "returned", "extended", "declined", "decline_refused",
               "reassigned")


def days_late(due: date | None, on: date, calendar: WorkCalendar) -> int | None:
    """Working days after ``due`` on day ``on``: 0 when not late; None without a due date (a waiting step)."""
    if due is None:
        return None
    return max(0, calendar.working_days_between(due, on))


def overdue_from(day: date, calendar: WorkCalendar) -> date:
    """The first due date not yet overdue on ``day``: an open assignment due before it is overdue on ``day``.

    Overdue means a working day has passed since the due date (``working_days_between(due, day) > 0``): on a
    working day, everything due before it; on a day off, everything due before the last working day.
    """
    return day if calendar.is_working_day(day) else calendar.previous_working_day(day)


def newly_overdue_range(previous: date | None, today: date, calendar: WorkCalendar) -> tuple[date, date]:
    """Due dates [start, stop) of the open assignments whose first overdue day falls in (previous, today].

    ``previous`` is the day of the last sweep that named overdue assignments; None on the first, which then
    names only those whose first overdue day is ``today``.
    """
    start = overdue_from(previous if previous is not None else today - timedelta(days=1), calendar)
    stop = overdue_from(today, calendar)
    return start, max(start, stop)


@dataclass(frozen=True)
class Facts:
    """What the feed says of an assignment besides its state: its names."""

    slug: str
    number: str
    key: str
    title: str
    period: str | None
    kind: str


@dataclass(frozen=True)
class FeedEvent:
    """One feed event, ready to be sent: ``source`` makes its id (the same change always gets the same id)."""

    what: str
    occurred: datetime
    facts: Facts
    state: State
    days_late: int | None
    source: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{PREFIX}.{self.what}"


def feed_events(change: Change, facts: Facts, state: State, *, today: date, calendar: WorkCalendar) -> list[FeedEvent]:
    """The feed events of one audit row, its assignment standing as ``state`` just after it, on day ``today``."""
    out = []
    p = change.payload
    for what in whats_of(change.kind, p):
        # Late is judged at the day of the act: a completion by its date, a report by the day reported.
        on = _iso(p.get("done_on")) or _iso(p.get("reported_on")) or today
        extra: dict[str, Any] = {"audit_event": change.id, "actor": _short(change.actor, 64)}
        if what == "extended":
            extra["previous_due"] = p.get("from")
        elif what == "returned" and p.get("previous_due") and p.get("previous_due") != p.get("due"):
            extra["previous_due"] = p.get("previous_due")
        elif what == "reassigned":
            previous = p.get("previous") or {}
            extra["kept"] = change.kind == "decline_refused"
            if previous.get("leads") is not None:
                extra["previous_leads"] = list(previous["leads"])
        elif what == "declined" and p.get("agency"):
            extra["agency"] = p["agency"]
        out.append(FeedEvent(what=what, occurred=change.at, facts=facts, state=state,
                             days_late=days_late(state.due, on, calendar), source=f"event:{change.id}:{what}",
                             extra=extra))
    return out


def _short(text: str | None, limit: int = NAME_LIMIT) -> str:
    """Stored text as the feed shows it: controls visible (``shown``), at most ``limit`` characters."""
    text = shown(text or "")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def resource_id(slug: str, key: str) -> str:
    """``dondoc.assignment.<slug>.<key>``; an occurrence's ``<key>/<period>`` becomes ``<key>.<period>``."""
    return f"{PREFIX}.{slug}.{key.replace('/', '.')}"


def as_prefect_event(event: FeedEvent, *, names: dict[str, str], salt: str, max_related: int = 100) -> dict[str, Any]:
    """The event as Prefect's Event schema has it (plain JSON values; the tasks layer validates and sends it).

    ``names`` are agency names by code. ``salt`` tells databases apart in the event id, which is a UUID derived
    from it and ``source``: sending the same change twice (at-least-once) gives Prefect the same id, and
    Prefect keeps one.
    """
    f, s = event.facts, event.state
    related = [{"prefect.resource.id": f"dondoc.directive.{f.slug}", "prefect.resource.role": "directive",
                "prefect.resource.name": _short(f.number)}]
    for role, codes in (("lead", s.leads), ("supporting", s.supporting)):
        for code in codes:
            related.append({"prefect.resource.id": f"dondoc.agency.{code}", "prefect.resource.role": role,
                            "prefect.resource.name": _short(names.get(code, code))})
    payload: dict[str, Any] = {
        "directive": f.slug,
        "key": f.key,
        "due": s.due.isoformat() if s.due else None,
        "days_late": event.days_late,
        "status": s.status,
        "leads": list(s.leads),
    }
    if f.period:
        payload["period"] = f.period
    payload.update(event.extra)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dondoc:{salt}:{event.source}")),
        "occurred": event.occurred.isoformat(),
        "event": event.name,
        "resource": {"prefect.resource.id": resource_id(f.slug, f.key), "prefect.resource.name": _short(f.title),
                     "dondoc.directive": f.slug, "dondoc.key": f.key, "dondoc.kind": f.kind},
        "related": related[:max_related],
        "payload": payload,
    }


def database_salt(url: str) -> str:
    """A short digest of the database URL (which may hold a password: only the digest goes out)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


# --- reading the database --------------------------------------------------------------------------------------


def cursor(session: Session, name: str = OUTLET) -> Outlet | None:
    return session.get(Outlet, name)


def first_cursor(session: Session, *, now: datetime) -> int:
    """Where a feed that never ran starts: after the last audit row older than FIRST_RUN_DAYS (read once)."""
    since = now - timedelta(days=FIRST_RUN_DAYS)
    first = session.exec(select(func.min(Event.id)).where(Event.at >= since)).one()
    if first is None:
        return session.exec(select(func.coalesce(func.max(Event.id), 0))).one()
    return first - 1


def advance(session: Session, name: str, *, last_event_id: int | None = None, at: datetime) -> None:
    """Move a cursor forward (never back: two senders may overlap, and ids only grow)."""
    row = session.get(Outlet, name)
    if row is None:
        row = Outlet(name=name, last_event_id=last_event_id or 0, updated_at=at)
    else:
        if last_event_id is not None:
            row.last_event_id = max(row.last_event_id, last_event_id)
        row.updated_at = max(row.updated_at, at) if row.updated_at else at
    session.add(row)


def read_changes(session: Session, *, after: int, limit: int) -> tuple[list[Change], int]:
    """Up to ``limit`` audit rows after id ``after`` that concern an assignment, and the last id read (of any row)."""
    rows = session.exec(select(Event).where(Event.id > after).order_by(Event.id).limit(limit)).all()
    last = rows[-1].id if rows else after
    return [_change(e) for e in rows if e.assignment_id is not None], last


def _change(e: Event) -> Change:
    return Change(id=e.id, at=e.at, kind=e.kind, actor=e.actor, assignment_id=e.assignment_id, payload=e.payload or {})


def later_changes(session: Session, *, after: int, assignment_ids: Iterable[int]) -> list[Change]:
    """The changes after id ``after`` that move the state of these assignments (to walk back from now)."""
    ids = sorted(set(assignment_ids))
    out: list[Change] = []
    for start in range(0, len(ids), 500):
        out += [_change(e) for e in session.exec(
            select(Event).where(Event.id > after, Event.assignment_id.in_(ids[start:start + 500]),
                                Event.kind.in_(STATE_KINDS)).order_by(Event.id)).all()]
    return sorted(out, key=lambda c: c.id)


def load_assignments(session: Session, ids: Iterable[int]) -> tuple[dict[int, Facts], dict[int, State]]:
    """Names and current state of these assignments: three queries per 500."""
    ids = sorted(set(ids))
    facts: dict[int, Facts] = {}
    states: dict[int, State] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        roles: dict[int, dict[str, list[str]]] = {i: {"lead": [], "supporting": []} for i in chunk}
        for link in session.exec(select(AssignmentAgency).where(AssignmentAgency.assignment_id.in_(chunk))
                                 .order_by(AssignmentAgency.assignment_id, AssignmentAgency.role,
                                           AssignmentAgency.position)).all():
            roles[link.assignment_id].setdefault(link.role, []).append(link.agency_code)
        for a, slug, number in session.exec(
                select(Assignment, Directive.slug, Directive.number)
                .join(Directive, Directive.id == Assignment.directive_id).where(Assignment.id.in_(chunk))).all():
            facts[a.id] = Facts(slug=slug, number=number, key=a.key, title=a.title, period=a.period, kind=a.kind)
            states[a.id] = State(due=a.due, status=a.status, leads=tuple(roles[a.id]["lead"]),
                                 supporting=tuple(roles[a.id]["supporting"]))
    return facts, states


def agency_names(session: Session, states: Iterable[State]) -> dict[str, str]:
    codes = sorted({c for s in states for c in (*s.leads, *s.supporting)})
    if not codes:
        return {}
    return dict(session.exec(select(Agency.code, Agency.name).where(Agency.code.in_(codes))).all())


def open_due_between(session: Session, start: date, stop: date) -> list[int]:
    """Open assignments due in [start, stop): those that became overdue (one range on the ``due`` index)."""
    if start >= stop:
        return []
    return list(session.exec(select(Assignment.id).where(Assignment.due >= start, Assignment.due < stop,
                                                         Assignment.status.in_(OPEN)).order_by(Assignment.id)).all())
