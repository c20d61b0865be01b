"""Recurring reports: a series opens one occurrence per period, each an assignment of its own.

The first occurrence opens when the series starts (at launch, or when the steps it waits for are
finished) and is the only one with a notice, which states the schedule. Each later one opens the day
after the one before it was due, whether or not that one was done: a missed report stays open and
overdue, and the next period is chased all the same. Every occurrence has its own due date, ladder,
reply links, status, review and events.

A sweep opens what is due (``open_due``). It plans the new occurrence's ladder as of the instant it
should have opened, so after downtime the catch-up rules decide what still goes out, as for any row.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, select

from models.calendar.periods import Period, by_name, first_due_after, following, opens_on
from models.calendar.timerules import TimeRules
from models.lifecycle.planning import plan_assignment
from models.store.tables import Assignment, AssignmentAgency, Directive, Event, Notification, Series

LIVE = ("waiting", "active")


def definition_of(directive: Directive, key: str) -> dict[str, Any]:
    """The assignment's entry in the directive's definition as launched."""
    return next(a for a in directive.definition.get("assignments", []) if a.get("key") == key)


def period_of(series: Series, name: str, rules: TimeRules) -> Period | None:
    return by_name(series.every, name, report_day=series.report_day, window=series.window, calendar=rules.calendar)


def occurrence_key(key: str, period: Period) -> str:
    return f"{key}/{period.name}"


def first_period(series: Series, *, now: datetime, rules: TimeRules) -> Period | None:
    """The first period whose due date falls after today; None when ``until`` allows none."""
    first = first_due_after(series.every, rules.today(now), report_day=series.report_day, window=series.window,
                            calendar=rules.calendar)
    return None if series.until is not None and first.due > series.until else first


def start_series(session: Session, *, directive: Directive, series: Series, now: datetime, rules: TimeRules,
                 actor: str, domain: str) -> Assignment | None:
    """Open the first occurrence: the first period whose due date falls after today. None when ``until`` allows none."""
    opened = start_many(session, directive=directive, series=[series], now=now, rules=rules, actor=actor, domain=domain)
    return opened[0] if opened else None


def start_many(session: Session, *, directive: Directive, series: list[Series], now: datetime, rules: TimeRules,
               actor: str, domain: str) -> list[Assignment]:
    """Start several series of one directive at once (a launch): their first occurrences written in one flush."""
    pairs = []
    for one in series:
        one.status = "active"
        first = first_period(one, now=now, rules=rules)
        if first is None:
            one.status, one.next_period, one.next_opens_at = "ended", None, None
            session.add(one)
            session.add(Event(at=now, actor=actor, kind="series_ended", directive_id=directive.id,
                              payload={"key": one.key, "until": one.until.isoformat(), "occurrences": 0}))
        else:
            pairs.append((one, first))
    return open_occurrences(session, directive=directive, pairs=pairs, now=now, planned_at=now, rules=rules,
                            actor=actor, domain=domain, notice=True)


def open_occurrence(session: Session, *, directive: Directive, series: Series, period: Period, now: datetime,
                    planned_at: datetime, rules: TimeRules, actor: str, domain: str, notice: bool) -> Assignment:
    """Create the occurrence of ``period``, plan its messages as of ``planned_at``, and mark when the next opens."""
    return open_occurrences(session, directive=directive, pairs=[(series, period)], now=now, planned_at=planned_at,
                            rules=rules, actor=actor, domain=domain, notice=notice)[0]


def open_occurrences(session: Session, *, directive: Directive, pairs: list[tuple[Series, Period]], now: datetime,
                     planned_at: datetime, rules: TimeRules, actor: str, domain: str,
                     notice: bool) -> list[Assignment]:
    """The occurrences of (series, period) pairs of one directive, written in one flush, each with its agencies,
    its ``created`` event and its messages planned as of ``planned_at``; each series marks when its next opens."""
    made = []
    for series, period in pairs:
        item = definition_of(directive, series.key)
        assignment = Assignment(
            directive_id=directive.id,
            key=occurrence_key(series.key, period),
            kind=item.get("kind", "generic"),
            title=f"{item['title']} ({period.label})",
            action=item["action"],
            due=period.due,
            stated_due=period.stated_due,
            status="assigned",
            depends_on=[],
            after=[],
            started_at=planned_at,
            series_id=series.id,
            period=period.name,
            window_from=period.window_from,
            window_to=period.window_to,
            updated_at=now,
        )
        session.add(assignment)
        made.append((series, period, item, assignment))
    if not made:
        return []
    session.flush()
    rows: list[dict] = []
    for series, period, item, assignment in made:
        for role, codes in (("lead", item.get("leads", [])), ("supporting", item.get("supporting", []))):
            for position, code in enumerate(codes):
                session.add(AssignmentAgency(assignment_id=assignment.id, agency_code=code, role=role,
                                             position=position))
        session.add(Event(at=now, actor=actor, kind="created", directive_id=directive.id, assignment_id=assignment.id,
                          payload={"due": period.due.isoformat(), "stated_due": period.stated_due.isoformat(),
                                   "leads": list(item.get("leads", [])),
                                   "supporting": list(item.get("supporting", [])),
                                   "series": series.key, "period": period.name,
                                   "window_from": period.window_from.isoformat(),
                                   "window_to": period.window_to.isoformat()}))
        plan_assignment(session, directive=directive, assignment=assignment, now=planned_at, rules=rules,
                        domain=domain, include_launch=notice, fresh=True, collect=rows)
        nxt = following(period, report_day=series.report_day, window=series.window, calendar=rules.calendar)
        if series.until is not None and nxt.due > series.until:
            series.status, series.next_period, series.next_opens_at = "ended", None, None
        else:
            series.next_period = nxt.name
            series.next_opens_at = datetime.combine(opens_on(period), time.min, tzinfo=rules.tz)
        session.add(series)
    if rows:
        session.execute(insert(Notification), rows)
    return [assignment for *_, assignment in made]


def open_due(session: Session, *, now: datetime, rules: TimeRules, domain: str, actor: str = "dondoc",
             batch: int = 200) -> list[str]:
    """Open every occurrence whose day has come, a series at a time; the keys opened (``slug/key/period``).

    A series is taken by clearing its ``next_opens_at`` where it still holds the value read, so two sweeps
    never open the same period twice. One that fell behind by several periods opens each in turn.
    """
    opened: list[str] = []
    while True:
        due = list(session.exec(select(Series).where(Series.next_opens_at.is_not(None), Series.next_opens_at <= now)
                                .order_by(Series.next_opens_at, Series.id).limit(batch)).all())
        if not due:
            return opened
        for series in due:
            at, name = series.next_opens_at, series.next_period
            taken = session.exec(update(Series).where(Series.id == series.id, Series.next_opens_at == at)
                                 .values(next_opens_at=None).execution_options(synchronize_session=False))
            if not taken.rowcount:
                continue
            session.refresh(series)
            directive = session.get(Directive, series.directive_id)
            period = period_of(series, name, rules) if name else None
            if directive.status != "active" or series.status != "active" or period is None:
                continue
            assignment = open_occurrence(session, directive=directive, series=series, period=period, now=now,
                                         planned_at=max(at, directive.launched_at), rules=rules, actor=actor,
                                         domain=domain, notice=False)
            opened.append(f"{directive.slug}/{assignment.key}")
        session.flush()


def stop_series(session: Session, *, directive_id: int) -> int:
    """Closing a directive ends its series: no period opens after it."""
    result = session.exec(update(Series).where(Series.directive_id == directive_id, Series.status.in_(LIVE))
                          .values(status="cancelled", next_opens_at=None, next_period=None)
                          .execution_options(synchronize_session=False))
    return result.rowcount or 0


def live_series(session: Session, directive_id: int) -> list[str]:
    """The keys of the directive's series that will still open occurrences (or have yet to start)."""
    return list(session.exec(select(Series.key).where(Series.directive_id == directive_id,
                                                      Series.status.in_(LIVE))).all())


def oldest_open(session: Session, *, directive_id: int, series_key: str) -> Assignment | None:
    """``SLUG/KEY`` of a recurring report: its oldest occurrence still open (or waiting for review)."""
    from models.lifecycle.status import UNFINISHED, WAITING

    series = session.exec(select(Series).where(Series.directive_id == directive_id, Series.key == series_key)).first()
    if series is None:
        return None
    return session.exec(select(Assignment).where(
        Assignment.series_id == series.id, Assignment.status.in_([s for s in UNFINISHED if s != WAITING]))
        .order_by(Assignment.due, Assignment.id)).first()
