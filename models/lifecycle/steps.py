"""Steps that start after others: a waiting assignment starts once every step it waits for is finished.

"Finished" is done (accepted) or cancelled. The start happens in the
transaction that finishes the last of them, so the due date, the ladder and
the notice are fixed at that instant and a crash never leaves a step
finished with its successor still waiting.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from models.calendar.timerules import TimeRules
from models.lifecycle.planning import plan_assignment
from models.lifecycle.status import WAITING, ready
from models.lifecycle.occurrences import start_series
from models.store.tables import Assignment, Directive, Event, Series


def start_ready(session: Session, *, directive: Directive, now: datetime, rules: TimeRules, actor: str,
                mail_domain: str = "localhost") -> list[str]:
    """Start every waiting step of ``directive`` whose steps are all finished; the keys started, in order."""
    siblings = list(session.exec(select(Assignment).where(Assignment.directive_id == directive.id)
                                 .order_by(Assignment.id)).all())
    statuses = {a.key: a.status for a in siblings}
    started = []
    for step in siblings:
        if step.status != WAITING or not ready(step.after, statuses):
            continue
        today = rules.today(now)
        if step.due is None:  # due_in: N working days, counted from the day after the start (DESIGN.md §5)
            step.due = step.stated_due = rules.calendar.add_working_days(today, step.due_in)
        step.status = "assigned"
        step.started_at = now
        step.updated_at = now
        session.add(step)
        session.add(Event(at=now, actor=actor, kind="started", directive_id=directive.id, assignment_id=step.id,
                          payload={"after": list(step.after), "due": step.due.isoformat(), "due_in": step.due_in}))
        session.flush()
        plan_assignment(session, directive=directive, assignment=step, now=now, rules=rules, domain=mail_domain,
                        fresh=True)
        statuses[step.key] = step.status
        started.append(step.key)
    for series in session.exec(select(Series).where(Series.directive_id == directive.id, Series.status == WAITING)
                               .order_by(Series.id)).all():
        if ready(series.after, statuses):
            first = start_series(session, directive=directive, series=series, now=now, rules=rules, actor=actor,
                                 domain=mail_domain)
            started.append(first.key if first is not None else series.key)
    return started
