"""Writing a validated directive: its registry, the directive, its assignments and their events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, select

from models.definition.definition import AssignmentDef, RegistryDef
from models.lifecycle.deliveries import Requeued, requeue
from models.errors import DuplicateDirective
from models.definition.loader import Loaded
from models.definition.naming import slugify
from models.lifecycle.planning import plan_assignment
from models.lifecycle.occurrences import start_many
from models.store.tables import Agency, Assignment, AssignmentAgency, Directive, Event, Registry, Series
from models.calendar.timerules import TimeRules


@dataclass(frozen=True)
class Launched:
    slug: str
    number: str
    directive_id: int
    assignments: list[tuple[int, str, str]]  # (id, key, kind)
    moved: list[tuple[str, date, date]]  # (key, stated due, effective due) where a day off moved it


@dataclass
class Reloaded:
    count: int  # agencies written
    changed: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> {old address: new address}
    requeued: list[Requeued] = field(default_factory=list)


def upsert_registry(session: Session, *, registry: RegistryDef, source: str, now: datetime,
                    actor: str = "coordinator") -> Reloaded:
    """Insert or update the registry and its agencies.

    An agency whose address (its own, or its head's) changed gets its failed
    deliveries to the old address re-queued: correcting an address is how a
    coordinator answers "không gửi được", and the messages then go to the new one.
    """
    row = session.get(Registry, registry.registry) or Registry(name=registry.registry, title=registry.title)
    row.title = registry.title
    row.provincial_office = registry.provincial_office
    row.ratings = [r.model_dump() for r in registry.ratings]
    row.source = source
    row.loaded_at = now
    session.add(row)
    result = Reloaded(count=len(registry.agencies))
    # One query for all of them, not one a code: launching a folder upserts the registry once a file.
    known = {a.code: a for a in session.exec(select(Agency).where(Agency.code.in_([i.code for i in registry.agencies])))}
    for item in registry.agencies:
        agency = known.get(item.code)
        if agency is not None:
            moved = {old: new for old, new in ((agency.email, str(item.email)), (agency.head_email, str(item.head.email)))
                     if old.lower() != new.lower()}
            if moved:
                result.changed[item.code] = moved
        else:
            agency = Agency(code=item.code, registry_name=registry.registry)
        agency.registry_name = registry.registry
        agency.name = item.name
        agency.short_names = list(item.short_names)
        agency.parent = item.parent
        agency.email = str(item.email)
        agency.head_title = item.head.title
        agency.head_name = item.head.name
        agency.head_email = str(item.head.email)
        session.add(agency)
    session.flush()
    for code, moved in result.changed.items():
        result.requeued += requeue(session, now=now, actor=actor, addresses=set(moved), reason={
            "reason": "address", "agency": code, "agency_name": session.get(Agency, code).name,
            "from": list(moved), "to": list(moved.values())})
    return result


def launch_directive(
    session: Session, *, loaded: Loaded, now: datetime, rules: TimeRules, actor: str, mail_domain: str = "localhost"
) -> Launched:
    """Create the directive, its assignments and their planned messages in the caller's transaction."""
    spec = loaded.directive
    slug = slugify(spec.number)
    existing = session.exec(
        select(Directive).where((Directive.number == spec.number) | (Directive.slug == slug))
    ).first()
    if existing is not None:
        raise DuplicateDirective(
            f"văn bản số {spec.number} đã được khởi tạo ({existing.slug}, "
            f"{existing.launched_at.astimezone(rules.tz):%d/%m/%Y %H:%M}); không khởi tạo lại"
        )
    upsert_registry(session, registry=loaded.registry, source=loaded.registry_source, now=now, actor=actor)

    directive = Directive(
        slug=slug,
        number=spec.number,
        issued_on=spec.issued_on,
        issuer=spec.issuer,
        subject=spec.subject,
        place=spec.place,
        registry_name=loaded.registry.registry,
        milestone=spec.milestone,
        launched_at=now,
        source=loaded.source,
        definition=spec.model_dump(mode="json"),
    )
    session.add(directive)
    session.flush()
    session.add(
        Event(at=now, actor=actor, kind="launched", directive_id=directive.id,
              payload={"number": spec.number, "source": loaded.source, "assignments": len(spec.assignments)})
    )

    created: list[tuple[int, str, str]] = []
    moved: list[tuple[str, date, date]] = []
    recurring = [item for item in spec.assignments if item.every is not None]
    for item in spec.assignments:
        if item.every is not None:
            continue
        waiting = bool(item.after)
        if item.due is not None:
            due = rules.calendar.roll_forward(item.due)
            if due != item.due:
                moved.append((item.key, item.due, due))
        else:  # due_in: counted from the day it starts, which for a waiting step is not known yet
            due = None if waiting else rules.calendar.add_working_days(rules.today(now), item.due_in)
        assignment = Assignment(
            directive_id=directive.id,
            key=item.key,
            kind=item.kind,
            title=item.title,
            action=item.action,
            due=due,
            stated_due=item.due if item.due is not None else due,
            status="waiting" if waiting else "assigned",
            milestone=item.key == spec.milestone,
            depends_on=list(item.depends_on),
            after=list(item.after),
            due_in=item.due_in,
            updated_at=now,
        )
        session.add(assignment)
        session.flush()
        for role, codes in (("lead", item.leads), ("supporting", item.supporting)):
            for position, code in enumerate(codes):
                session.add(AssignmentAgency(assignment_id=assignment.id, agency_code=code, role=role, position=position))
        payload = {"due": due.isoformat() if due else None,
                   "stated_due": assignment.stated_due.isoformat() if assignment.stated_due else None,
                   "leads": list(item.leads), "supporting": list(item.supporting)}
        if waiting:
            payload.update(after=list(item.after), due_in=item.due_in)
        session.add(Event(at=now, actor=actor, kind="created", directive_id=directive.id, assignment_id=assignment.id,
                          payload=payload))
        if not waiting:  # a waiting step gets its notice and ladder when it starts (models/lifecycle/steps.py)
            plan_assignment(session, directive=directive, assignment=assignment, now=now, rules=rules,
                            domain=mail_domain, fresh=True)
        created.append((assignment.id, item.key, item.kind))
    if recurring:
        created += _launch_series(session, directive=directive, items=recurring, now=now, rules=rules, actor=actor,
                                  domain=mail_domain)
    session.flush()
    return Launched(slug=slug, number=spec.number, directive_id=directive.id, assignments=created, moved=moved)


def _launch_series(session: Session, *, directive: Directive, items: list[AssignmentDef], now: datetime,
                   rules: TimeRules, actor: str, domain: str) -> list[tuple[int, str, str]]:
    """The recurring reports: a series each, and the first occurrence of those that wait for no other step.

    All of a directive's series are written in one flush, and their first occurrences in one more: a province's
    launch of hundreds of reports is a few statements per directive, not several per report.
    """
    series = [Series(directive_id=directive.id, key=item.key, every=item.every, report_day=item.report_day,
                     window=item.window, until=item.until, status="waiting" if item.after else "active",
                     after=list(item.after), created_at=now) for item in items]
    session.add_all(series)
    session.flush()
    for item in items:
        session.add(Event(at=now, actor=actor, kind="series", directive_id=directive.id,
                          payload={"key": item.key, "every": item.every, "report_day": item.report_day,
                                   "window": item.window, "until": item.until.isoformat() if item.until else None,
                                   "leads": list(item.leads), "supporting": list(item.supporting),
                                   "after": list(item.after)}))
    ready = [one for one, item in zip(series, items) if not item.after]
    return [(a.id, a.key, a.kind) for a in start_many(session, directive=directive, series=ready, now=now,
                                                      rules=rules, actor=actor, domain=domain)]
