"""The figures of a period, read from the database: one function for the scorecard, the period report, the
board and the digest, so they never disagree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from models.calendar.timerules import TimeRules
from models.errors import InputError
from models.oversight.asof import State, as_of
from models.oversight.scorecard import ScoreRow, score, totals
from models.store.tables import Agency, Assignment, Directive, ExtensionRequest, Notification, Registry


@dataclass(frozen=True)
class Figures:
    span: tuple[date, date]
    today: date
    rows: list[ScoreRow]
    states: list[State]
    totals: dict[str, int]


def figures(session: Session, *, span: tuple[date, date], now: datetime, rules: TimeRules, agency: str | None = None,
            issuer: str | None = None, details: bool = True) -> Figures:
    """Every lead agency's scorecard for assignments due in ``span``, as the audit trail stood at ``now``.

    ``details=False`` leaves the states without their text (key, title, reply document): enough for the
    figures, and much less to read at scale.
    """
    if agency is not None and session.get(Agency, agency) is None:
        raise InputError(f"không có cơ quan {agency!r} trong danh mục (xem: dondoc agencies)")
    if issuer is not None and session.get(Agency, issuer) is None:
        raise InputError(f"không có cơ quan ban hành {issuer!r} trong danh mục (xem: dondoc agencies)")
    today = rules.today(now)
    states = as_of(session, at=now, due_from=span[0], due_until=span[1], issuer=issuer, details=details)
    agencies = {a.code: a for a in session.exec(select(Agency)).all()}
    scales = {r.name: r.ratings for r in session.exec(select(Registry)).all()}
    ids = {s.id for s in states}

    def within(query, column):
        """The rows about assignments due in the span (by the due date of now; the ids above decide)."""
        query = query.join(Assignment, Assignment.id == column).join(Directive, Directive.id == Assignment.directive_id)
        if issuer is not None:
            query = query.where(Directive.issuer == issuer)
        return query

    silent: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    for assignment_id, payload in session.exec(within(select(Notification.assignment_id, Notification.payload).where(
            Notification.rung == "unacknowledged", Notification.state.in_(("sent", "failed")),
            Notification.due_at <= now), Notification.assignment_id)).all():
        if assignment_id in ids and payload.get("lead"):
            silent[payload["lead"]] += 1
    for assignment_id, code in session.exec(within(select(ExtensionRequest.assignment_id, ExtensionRequest.agency_code)
                                                   .where(ExtensionRequest.requested_at <= now),
                                                   ExtensionRequest.assignment_id)).all():
        if assignment_id in ids:
            asked[code] += 1
    rows = score(states, today=today, calendar=rules.calendar, names={c: a.name for c, a in agencies.items()},
                 scales={c: scales.get(a.registry_name) or [] for c, a in agencies.items()},
                 unacknowledged=silent, extensions_asked=asked, agency=agency)
    if agency is not None:
        states = [s for s in states if agency in s.leads]
    return Figures(span=span, today=today, rows=rows, states=states, totals=totals(states, today))


def directive_numbers(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    """Slug and number of each directive, for tables that name them."""
    if not ids:
        return {}
    return {d.id: (d.slug, d.number) for d in session.exec(select(Directive).where(Directive.id.in_(sorted(ids)))).all()}
