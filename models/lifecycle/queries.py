"""Read-side functions: find directives and assignments, and build status rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case
from sqlmodel import Session, select

from models.lifecycle.deliveries import failures
from models.errors import NotFound
from models.lifecycle.status import LABELS, OPEN, WAITING, standing, waiting_for
from models.store.tables import Agency, Assignment, AssignmentAgency, Directive, Event, Notification, Series
from models.calendar.timerules import TimeRules


def get_directive(session: Session, *, slug: str) -> Directive:
    directive = session.exec(select(Directive).where(Directive.slug == slug)).first()
    if directive is None:
        raise NotFound(f"không có văn bản chỉ đạo {slug!r} (xem danh sách: dondoc status)")
    return directive


def get_assignment(session: Session, *, slug: str, key: str) -> tuple[Directive, Assignment]:
    directive = get_directive(session, slug=slug)
    assignment = session.exec(
        select(Assignment).where(Assignment.directive_id == directive.id, Assignment.key == key)
    ).first()
    if assignment is None and "/" not in key:  # a recurring report named without its period: the oldest open one
        from models.lifecycle.occurrences import oldest_open

        assignment = oldest_open(session, directive_id=directive.id, series_key=key)
        if assignment is None and session.exec(select(Assignment.id).where(
                Assignment.directive_id == directive.id, Assignment.key.startswith(f"{key}/"))).first() is not None:
            raise NotFound(f"báo cáo định kỳ {key!r} của văn bản {slug} không có kỳ nào đang mở; "
                           f"ghi rõ kỳ, ví dụ {slug}/{key}/2021-01")
    if assignment is None:
        keys = session.exec(select(Assignment.key).where(Assignment.directive_id == directive.id)).all()
        raise NotFound(f"văn bản {slug} không có nhiệm vụ {key!r}; các nhiệm vụ: {', '.join(keys)}")
    return directive, assignment


def list_directives(session: Session) -> list[Directive]:
    return list(session.exec(select(Directive).order_by(Directive.launched_at, Directive.id)).all())


def agencies_of(session: Session, assignment_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    """Lead and supporting agency codes of each assignment, in their stated order."""
    roles: dict[int, dict[str, list[str]]] = {i: {"lead": [], "supporting": []} for i in assignment_ids}
    if not assignment_ids:
        return roles
    links = session.exec(
        select(AssignmentAgency)
        .where(AssignmentAgency.assignment_id.in_(assignment_ids))
        .order_by(AssignmentAgency.assignment_id, AssignmentAgency.position)
    ).all()
    for link in links:
        roles[link.assignment_id][link.role].append(link.agency_code)
    return roles


def agency_map(session: Session, codes: set[str] | None = None) -> dict[str, Agency]:
    query = select(Agency)
    if codes is not None:
        query = query.where(Agency.code.in_(sorted(codes)))
    return {a.code: a for a in session.exec(query).all()}


@dataclass(frozen=True)
class StatusRow:
    key: str
    title: str
    kind: str
    leads: list[str]
    supporting: list[str]
    due: date | None  # None: a step that waits, with due_in, has no due date until it starts
    status: str
    overdue_working_days: int | None
    done_on: date | None
    evidence: str | None
    evidence_on: date | None
    flag: str
    colour: str
    milestone: bool
    depends_on: list[str]
    waiting_for: list[str] = field(default_factory=list)  # the steps a waiting one still waits for
    after: list[str] = field(default_factory=list)
    due_in: int | None = None
    reported_on: date | None = None  # an agency's completion that waits for the coordinator's review
    unacknowledged: list[str] = field(default_factory=list)  # leads that took no action within ack_within
    series: str | None = None  # an occurrence of a recurring report: the report's key, its period and data window
    period: str | None = None
    window_from: date | None = None
    window_to: date | None = None
    # Who a message about this assignment did not reach (refused for good): agency, role, address, error, rung, on.
    unreachable: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return LABELS[self.status]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("due", "done_on", "evidence_on", "reported_on", "window_from", "window_to"):
            data[name] = data[name].isoformat() if data[name] else None
        return data


def assignments_of(session: Session, directive: Directive) -> list[Assignment]:
    return list(
        session.exec(select(Assignment).where(Assignment.directive_id == directive.id).order_by(Assignment.id)).all()
    )


def status_rows(session: Session, *, directive: Directive, now: datetime, rules: TimeRules) -> list[StatusRow]:
    today = rules.today(now)
    assignments = assignments_of(session, directive)
    roles = agencies_of(session, [a.id for a in assignments])
    unreachable = unreachable_of(session, directive, roles)
    statuses = {a.key: a.status for a in assignments}
    silent = unacknowledged_leads(session, directive, assignments, roles, today=today, rules=rules)
    series_keys = dict(session.exec(select(Series.id, Series.key).where(Series.directive_id == directive.id)).all()) \
        if any(a.series_id for a in assignments) else {}
    rows = []
    for a in assignments:
        s = standing(status=a.status, due=a.due, done_on=a.done_on, today=today, calendar=rules.calendar)
        rows.append(
            StatusRow(
                key=a.key,
                title=a.title,
                kind=a.kind,
                leads=roles[a.id]["lead"],
                supporting=roles[a.id]["supporting"],
                due=a.due,
                status=a.status,
                overdue_working_days=s.overdue_working_days,
                done_on=a.done_on,
                evidence=a.evidence,
                evidence_on=a.evidence_on,
                flag=s.flag,
                colour=s.colour,
                milestone=a.milestone,
                depends_on=list(a.depends_on),
                waiting_for=waiting_for(a.after, statuses) if a.status == WAITING else [],
                after=list(a.after),
                due_in=a.due_in,
                reported_on=a.reported_on,
                unacknowledged=silent.get(a.id, []),
                unreachable=unreachable.get(a.id, []),
                series=series_keys.get(a.series_id),
                period=a.period,
                window_from=a.window_from,
                window_to=a.window_to,
            )
        )
    return rows


@dataclass(frozen=True)
class SeriesRow:
    """A recurring report as one line: its current occurrence, and how its periods went."""

    key: str
    title: str
    every: str
    report_day: int
    window: str
    status: str  # waiting | active | ended | cancelled
    leads: list[str]
    supporting: list[str]
    current: StatusRow | None  # the latest period opened; None while the report waits for other steps
    occurrences: list[StatusRow]
    waiting_for: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Periods done on time, done late, and missing: past their due date and not done."""
        flags = [r.flag for r in self.occurrences]
        return {"on_time": flags.count("done_on_time"), "late": flags.count("done_late"),
                "missing": flags.count("overdue")}

    def as_json(self) -> dict[str, Any]:
        data = self.current.as_json() if self.current else {
            "due": None, "status": "waiting", "flag": "waiting", "overdue_working_days": None, "done_on": None}
        data.update(key=self.key, title=self.title, every=self.every, report_day=self.report_day, window=self.window,
                    series_status=self.status, leads=self.leads, supporting=self.supporting,
                    current=self.current.period if self.current else None, **self.counts,
                    waiting_for=self.waiting_for or data.get("waiting_for", []),
                    occurrences=[{"period": r.period, "window_from": r.window_from.isoformat(),
                                  "window_to": r.window_to.isoformat(), "due": r.due.isoformat(), "status": r.status,
                                  "flag": r.flag, "done_on": r.done_on.isoformat() if r.done_on else None}
                                 for r in self.occurrences])
        return data


def status_view(session: Session, *, directive: Directive, rows: list[StatusRow]) -> list[StatusRow | SeriesRow]:
    """What `dondoc status` shows: each assignment as it is, each recurring report once, where it was defined."""
    series = list(session.exec(select(Series).where(Series.directive_id == directive.id)).all())
    if not series:
        return list(rows)
    by_key = {s.key: s for s in series}
    grouped: dict[str, list[StatusRow]] = defaultdict(list)
    for r in rows:
        if r.series:
            grouped[r.series].append(r)
    plain = {r.key: r for r in rows if not r.series}
    statuses = {k: r.status for k, r in plain.items()}
    view: list[StatusRow | SeriesRow] = []
    for item in directive.definition.get("assignments", []):
        key = item.get("key")
        if key in plain:
            view.append(plain.pop(key))
        elif key in by_key:
            occurrences = sorted(grouped.get(key, []), key=lambda r: r.due)
            s = by_key[key]
            view.append(SeriesRow(key=key, title=item["title"], every=s.every, report_day=s.report_day,
                                  window=s.window, status=s.status, leads=list(item.get("leads", [])),
                                  supporting=list(item.get("supporting", [])),
                                  current=occurrences[-1] if occurrences else None, occurrences=occurrences,
                                  waiting_for=waiting_for(s.after, statuses) if s.status == WAITING else []))
    return view + list(plain.values())


# What counts as a lead's action on its assignment (Decree 30/2020/NĐ-CP, Art. 21: it took the document up).
LEAD_ACTIONS = ("status", "extension_requested", "declined")


def unacknowledged_leads(session: Session, directive: Directive, assignments: list[Assignment],
                         roles: dict[int, dict[str, list[str]]], *, today: date, rules: TimeRules) -> dict[int, list[str]]:
    """Per open assignment, the leads that took no action by the end of the ``ack_within``-th working day after
    it started. An action the coordinator records (an actor that is not one of the leads) speaks for them all."""
    within = int(directive.definition.get("ack_within", 1))
    if within <= 0:
        return {}
    acted: dict[int, set[str]] = defaultdict(set)
    for assignment_id, actor in session.exec(select(Event.assignment_id, Event.actor).where(
            Event.directive_id == directive.id, Event.kind.in_(LEAD_ACTIONS))).all():
        acted[assignment_id].add(actor)
    # A recurring report's later occurrences open without a notice: only the first is there to be taken up.
    firsts = {}
    for a in sorted((a for a in assignments if a.series_id), key=lambda a: (a.due, a.id)):
        firsts.setdefault(a.series_id, a.id)
    silent = {}
    for a in assignments:
        if a.status not in OPEN or (a.series_id and firsts[a.series_id] != a.id):
            continue
        started = rules.today(a.started_at or directive.launched_at)
        if today <= rules.calendar.add_working_days(started, within):
            continue
        leads = roles[a.id]["lead"]
        if any(actor not in leads for actor in acted[a.id]):
            continue
        missing = [code for code in leads if code not in acted[a.id]]
        if missing:
            silent[a.id] = missing
    return silent


def unreachable_of(session: Session, directive: Directive,
                   roles: dict[int, dict[str, list[str]]]) -> dict[int, list[dict[str, Any]]]:
    """Per assignment, each address that a failed row about it did not reach, oldest failure first.

    Read from the failed rows only: once re-queued and delivered (a corrected
    address, `dondoc outbox retry`), the agency is no longer shown unreachable.
    """
    failed = session.exec(
        select(Notification.assignment_id, Notification.rung, Notification.on, Notification.recipients)
        .where(Notification.directive_id == directive.id, Notification.state == "failed",
               Notification.assignment_id.is_not(None))
        .order_by(Notification.due_at, Notification.id)
    ).all()
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[int, str]] = set()
    for assignment_id, rung, on, recipients in failed:
        mine = roles.get(assignment_id, {"lead": [], "supporting": []})
        for failure in failures(recipients):
            if (assignment_id, failure["address"].lower()) in seen:
                continue
            seen.add((assignment_id, failure["address"].lower()))
            agency = failure.get("agency")
            if failure.get("head"):
                role = "lead-head" if agency in mine["lead"] else "head"
            else:
                role = "lead" if agency in mine["lead"] else "supporting" if agency in mine["supporting"] else "other"
            out[assignment_id].append({"agency": agency, "role": role, "address": failure["address"],
                                       "error": failure.get("error", ""), "rung": rung, "on": on.isoformat()})
    return out


def events_of(session: Session, *, directive: Directive, assignment: Assignment | None = None) -> list[tuple[Event, str | None]]:
    """The audit trail, oldest first, each event with its assignment key."""
    query = (
        select(Event, Assignment.key)
        .join(Assignment, Event.assignment_id == Assignment.id, isouter=True)
        .where(Event.directive_id == directive.id)
        .order_by(Event.at, Event.id)
    )
    if assignment is not None:
        query = query.where(Event.assignment_id == assignment.id)
    return [(event, key) for event, key in session.exec(query).all()]


def stale_directives(session: Session, *, now: datetime, rules: TimeRules, limit: int | None = None) -> list[int]:
    """Ids of the directives whose published status may be out of date, the most telling first.

    That is: never published, or something happened since (an event, a
    message sent), first; then those published on an earlier business day
    (the working-day counts moved), oldest first. A sweep with nothing new
    publishes nothing.
    """
    day_start = datetime.combine(rules.today(now), datetime.min.time(), tzinfo=rules.tz)
    newer_event = select(Event.id).where(Event.directive_id == Directive.id, Event.at > Directive.published_at).exists()
    newer_mail = (
        select(Notification.id)
        .where(Notification.directive_id == Directive.id, Notification.sent_at > Directive.published_at)
        .exists()
    )
    live = (Directive.status == "active") | (Directive.closed_at > Directive.published_at)
    changed = Directive.published_at.is_(None) | (live & (newer_event | newer_mail))
    query = select(Directive.id).where(changed | (live & (Directive.published_at < day_start)))
    query = query.order_by(case((changed, 0), else_=1), Directive.published_at.nulls_first(), Directive.id)
    return list(session.exec(query.limit(limit)).all())
