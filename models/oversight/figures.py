"""The figures of a period, read from the database: one function for the scorecard, the period report, the
board and the digest, so they never disagree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from models.calendar.timerules import TimeRules
from models.errors import InputError
from models.oversight.asof import State, as_of
from models.oversight.scorecard import ScoreRow, score, totals
from models.store.tables import Agency, Directive, ExtensionRequest, Notification, Registry


@dataclass(frozen=True)
class Figures:
    span: tuple[date, date]
    today: date
    rows: list[ScoreRow]
    states: list[State]
    totals: dict[str, int]


def figures(session: Session, *, span: tuple[date, date], now: datetime, rules: TimeRules, agency: str | None = None,
            issuer: str | None = None) -> Figures:
    """Every lead agency's scorecard for assignments due in ``span``, as the audit trail stood at ``now``."""
    if agency is not None and session.get(Agency, agency) is None:
        raise InputError(f"không có cơ quan {agency!r} trong danh mục (xem: dondoc agencies)")
    if issuer is not None and session.get(Agency, issuer) is None:
        raise InputError(f"không có cơ quan ban hành {issuer!r} trong danh mục (xem: dondoc agencies)")
    today = rules.today(now)
    states = as_of(session, at=now, due_from=span[0], due_until=span[1], issuer=issuer)
    agencies = {a.code: a for a in session.exec(select(Agency)).all()}
    scales = {r.name: r.ratings for r in session.exec(select(Registry)).all()}
    ids = [s.id for s in states]
    silent: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    for chunk in (ids[i:i + 5000] for i in range(0, len(ids), 5000)):
        for payload in session.exec(select(Notification.payload).where(  # one column: scalars
                Notification.assignment_id.in_(chunk), Notification.rung == "unacknowledged",
                Notification.state.in_(("sent", "failed")), Notification.due_at <= now)).all():
            if payload.get("lead"):
                silent[payload["lead"]] += 1
        for code, n in session.exec(select(ExtensionRequest.agency_code, func.count()).where(
                ExtensionRequest.assignment_id.in_(chunk), ExtensionRequest.requested_at <= now)
                .group_by(ExtensionRequest.agency_code)).all():
            asked[code] += n
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
