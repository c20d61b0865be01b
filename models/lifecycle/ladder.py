"""The escalation ladder: which messages an assignment gets, and when.

Offsets count working days from the due date; planned messages go out at
08:00 local time on that day. A rung whose day has already passed when it is
planned is not sent late: a reminder for yesterday helps nobody. A repeating
rung is planned one occurrence at a time; the next is planned when one is sent.

A rung already planned may still fall due while nothing sends (the server was
down): ``superseded`` says which of those must not go out late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from models.definition.definition import RungDef
from models.calendar.timerules import TimeRules
from models.calendar.workdays import WorkCalendar

DEFAULT_LADDER: tuple[RungDef, ...] = (
    RungDef(rung="notice", offset="launch", to=["leads"], cc=["supporting"]),
    RungDef(rung="reminder", offset=-5, to=["leads"]),
    RungDef(rung="due-soon", offset=-1, to=["leads"]),
    RungDef(rung="overdue", offset=1, to=["leads"], cc=["lead-heads"]),
    RungDef(rung="escalation", offset=3, to=["lead-heads"], cc=["director"]),
    RungDef(rung="report-up", offset=5, repeat=5, to=["provincial-office"], cc=["director"]),
)

DATED_RUNGS = ("reminder", "due-soon", "overdue", "escalation", "report-up")

# The messages about one deadline to the lead agency and then its head, in rising order. Each says
# everything the ones before it would, so after downtime only the highest one already due goes out.
# The report to the provincial office is not among them: it goes to another authority, on its own series.
LEAD_CHAIN = ("reminder", "due-soon", "overdue", "escalation")
BEFORE_DUE = ("reminder", "due-soon")  # their words speak of a deadline still ahead


@dataclass(frozen=True)
class PlannedRung:
    rung: str
    template: str
    on: date
    due_at: datetime
    to: tuple[str, ...]
    cc: tuple[str, ...]
    repeat: int | None


def ladder_of(definition: dict[str, Any]) -> tuple[RungDef, ...]:
    """The directive's own ladder, or the default one."""
    rungs = definition.get("ladder")
    return tuple(RungDef.model_validate(r) for r in rungs) if rungs else DEFAULT_LADDER


def plan(
    ladder: Sequence[RungDef], *, due: date, now: datetime, rules: TimeRules, include_launch: bool = True
) -> list[PlannedRung]:
    """Dated rungs for an assignment due on ``due``, planned at ``now``."""
    today = rules.today(now)
    planned = []
    for rung in ladder:
        if rung.offset == "launch":
            if include_launch:
                planned.append(_planned(rung, today, now))
            continue
        on = rules.calendar.add_working_days(rules.calendar.roll_forward(due), rung.offset)
        while on < today and rung.repeat:
            on = rules.calendar.add_working_days(on, rung.repeat)
        if include_launch and on == today and rung.rung in BEFORE_DUE and _has_notice(ladder):
            continue  # the notice that goes out now states the deadline; a "due soon" just before it would confuse
        if on >= today:
            planned.append(_planned(rung, on, rules.at_send_hour(on)))
    return sorted(planned, key=lambda p: (p.due_at, p.rung))


def _has_notice(ladder: Sequence[RungDef]) -> bool:
    return any(r.offset == "launch" for r in ladder)


def next_occurrence(on: date, repeat: int, rules: TimeRules) -> tuple[date, datetime]:
    nxt = rules.calendar.add_working_days(on, repeat)
    return nxt, rules.at_send_hour(nxt)


def resume_from(on: date, today: date) -> date:
    """The day a repeating rung's series counts on from once an occurrence is sent (or skipped) ``today``.

    Sent late after downtime, the occurrence stands for every one missed: the
    next is ``repeat`` working days after today, not after its planned day, so
    the recipient gets one report now rather than one per sweep until the
    series catches up.
    """
    return max(on, today)


@dataclass(frozen=True)
class Supersession:
    """Why a message planned for an earlier day is not sent late."""

    by: str | None  # the later rung already due that says it instead; None: the due date itself has passed
    since: date  # the day that rung fell due (or the due date)


def superseded(rung: str, on: date, *, due: date, ladder: Sequence[RungDef], today: date,
               calendar: WorkCalendar) -> Supersession | None:
    """Whether the ``rung`` planned for ``on`` has been superseded by ``today``, and by what; None: send it.

    Only a message late on ``today`` can be: one on its own day never is. Then
    - a reminder or due-soon is not sent after the due date (its text speaks of a deadline ahead);
    - a rung of the lead chain is not sent once a higher one fell due after it (``on`` < its day ≤ ``today``):
      no reminder once the due-soon is due, no overdue once the escalation is.
    A repeating rung is never superseded by its own later occurrences: it goes out once and resumes from
    today (``resume_from``). ``due`` is the assignment's due date, already on a working day.
    """
    if on >= today or rung not in LEAD_CHAIN:
        return None
    if rung in BEFORE_DUE and today > due:
        return Supersession(None, due)
    found: Supersession | None = None
    for other in ladder:
        if other.offset == "launch" or other.rung not in LEAD_CHAIN or _rank(other.rung) <= _rank(rung):
            continue
        day = calendar.add_working_days(calendar.roll_forward(due), other.offset)
        while other.repeat and day <= on:
            day = calendar.add_working_days(day, other.repeat)
        if on < day <= today and (found is None or _rank(other.rung) > _rank(found.by)):
            found = Supersession(other.rung, day)
    return found


def _rank(rung: str | None) -> int:
    return LEAD_CHAIN.index(rung) if rung in LEAD_CHAIN else -1


def _planned(rung: RungDef, on: date, due_at: datetime) -> PlannedRung:
    return PlannedRung(rung=rung.rung, template=rung.template_name, on=on, due_at=due_at,
                       to=tuple(rung.to), cc=tuple(rung.cc), repeat=rung.repeat)


def notification_key(slug: str, assignment: str | None, rung: str, on: date | None) -> str:
    """Unique per (directive, assignment, rung, day): the outbox's idempotency key."""
    return "/".join([slug, assignment or "-", rung, on.isoformat() if on else "-"])


def message_id_for(key: str, domain: str, agency: str | None = None) -> str:
    """A stable Message-ID derived from the idempotency key.

    With ``agency``: the Message-ID of the row's message to that one lead agency,
    the only message that carries its reply link. A re-send after a crash
    derives the same one, so a mail client still shows the message once.
    """
    # An occurrence's key holds a slash of its own (monthly-report/2021-01): the slug is first, rung and day last.
    slug, rest = key.split("/", 1)
    assignment, rung, on = rest.rsplit("/", 2)
    parts = [rung, on.replace("-", ""), assignment.replace("/", "."), slug, agency or "-"]
    local = ".".join(p for p in parts if p and p != "-")
    return f"<{local}@{domain}>"
