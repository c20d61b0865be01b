"""Helpers for tests and benchmarks that ship with dondoc: synthetic directives of any size.

``write_directives`` writes definition files, to be launched like a coordinator's.
``populate`` and ``plan_due_rows`` write rows in bulk, shaped exactly like a
launch's, for the sizes (100k assignments) at which launching would take too long.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

REGISTRY = Path(__file__).resolve().parent.parent / "directives" / "agencies" / "long-an.yaml"
LEADS = ["sxd", "stnmt", "sct", "bqlkkt", "stttt"]


def write_directives(folder: Path, count: int, assignments: int, *, issued: date = date(2020, 11, 30),
                     due: date = date(2020, 12, 31), prefix: str = "B") -> list[Path]:
    """``count`` directive files of ``assignments`` assignments each, sharing a copy of the Long An registry."""
    (folder / "agencies").mkdir(parents=True, exist_ok=True)
    shutil.copy(REGISTRY, folder / "agencies" / "long-an.yaml")
    paths = []
    for i in range(count):
        lines = [
            f"number: {i + 1}/{prefix}-STTTT", f"issued_on: {issued}", "issuer: stttt",
            f"subject: Văn bản thử nghiệm số {i + 1}", "place: Long An", "registry: agencies/long-an.yaml",
            # No acknowledgement reminders: these files measure and test the outbox's machinery, whose
            # counts would otherwise depend on a rule (issue 12, §3) tested on its own.
            "ack_within: 0",
            "assignments:",
        ]
        for j in range(assignments):
            lines += [
                f"  - key: a{j + 1}", f"    title: Nhiệm vụ thử nghiệm {j + 1}",
                f"    action: Thực hiện nhiệm vụ thử nghiệm số {j + 1} của văn bản {i + 1}.",
                f"    leads: [{LEADS[j % len(LEADS)]}]", "    supporting: [viettel]",
                f"    due: {due + timedelta(days=j % 20)}",
            ]
        path = folder / f"d{i + 1:05d}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def populate(url: str, assignments: int, *, launched: datetime, per: int = 5) -> None:
    """``assignments`` open assignments in directives of ``per``, each with its default ladder planned (bulk inserts)."""
    from sqlalchemy import insert

    from models.store.db import open_database, session_scope
    from models.lifecycle.ladder import DEFAULT_LADDER, message_id_for, notification_key, plan
    from models.lifecycle.launch import upsert_registry
    from models.definition.loader import load_registry
    from models.store.tables import Assignment, AssignmentAgency, Directive, Notification
    from models.calendar.timerules import TimeRules

    rules = TimeRules()
    engine = open_database(url)
    with session_scope(engine) as session:
        upsert_registry(session, registry=load_registry(REGISTRY), source=str(REGISTRY), now=launched)
    due_base = rules.today(launched) + timedelta(days=120)
    for start in range(0, assignments // per, 1000):
        rows, links, notes = [], [], []
        with session_scope(engine) as session:
            count = min(1000, assignments // per - start)
            result = session.execute(insert(Directive).returning(Directive.id), [
                {"slug": f"{i}-b-stttt", "number": f"{i}/B-STTTT", "issued_on": rules.today(launched),
                 "issuer": "stttt", "subject": "Thử nghiệm", "place": "Long An", "registry_name": "long-an",
                 "status": "active", "launched_at": launched, "source": "bench", "definition": {}}
                for i in range(start, start + count)])
            for directive_id in [r[0] for r in result]:
                for j in range(per):
                    rows.append({"directive_id": directive_id, "key": f"a{j}", "kind": "generic",
                                 "title": f"Nhiệm vụ {j}", "action": "Thực hiện.",
                                 "due": rules.calendar.roll_forward(due_base + timedelta(days=j)),
                                 "stated_due": due_base + timedelta(days=j), "status": "assigned",
                                 "milestone": False, "depends_on": [], "updated_at": launched})
            ids = [r[0] for r in session.execute(insert(Assignment).returning(Assignment.id), rows)]
            for index, assignment_id in enumerate(ids):
                row = rows[index]
                links.append({"assignment_id": assignment_id, "agency_code": LEADS[index % len(LEADS)],
                              "role": "lead", "position": 0})
                slug = f"{start + index // per}-b-stttt"
                for p in plan(DEFAULT_LADDER, due=row["due"], now=launched, rules=rules, include_launch=False):
                    key = notification_key(slug, row["key"], p.rung, p.on)
                    notes.append({"key": key, "message_id": message_id_for(key, "localhost"),
                                  "directive_id": row["directive_id"], "assignment_id": assignment_id,
                                  "rung": p.rung, "template": p.template, "on": p.on, "due_at": p.due_at,
                                  "repeat": p.repeat, "to_audience": list(p.to), "cc_audience": list(p.cc),
                                  "state": "pending", "attempts": 0, "recipients": {}, "payload": {},
                                  "created_at": launched})
            session.execute(insert(AssignmentAgency), links)
            session.execute(insert(Notification), notes)


def plan_due_rows(slug: str | None, per_assignment: int, due_at: datetime) -> int:
    """Add ``per_assignment`` due reminder rows to every assignment of ``slug`` (of every directive when None),
    in bulk; returns how many.

    Each is planned for the day it is due, told apart by a tag in its key (as add_row's ``tag``): a reminder
    planned for an earlier day would be a catch-up, and one past the due date is skipped, not sent.
    """
    from sqlalchemy import insert
    from sqlmodel import select

    from models.store.db import transaction
    from models.lifecycle.ladder import message_id_for, notification_key
    from models.store.tables import Assignment, Directive, Notification

    added = 0
    with transaction() as session:
        query = select(Assignment, Directive.slug).join(Directive, Directive.id == Assignment.directive_id)
        if slug is not None:
            query = query.where(Directive.slug == slug)
        rows = []
        for a, directive_slug in session.exec(query.order_by(Assignment.id)).all():
            on = due_at.date()
            for i in range(per_assignment):
                key = notification_key(directive_slug, a.key, f"reminder-{i}", on)
                rows.append({"key": key, "message_id": message_id_for(key, "localhost"),
                             "directive_id": a.directive_id, "assignment_id": a.id, "rung": "reminder",
                             "template": "reminder", "on": on, "due_at": due_at, "to_audience": ["leads"],
                             "cc_audience": [], "state": "pending", "attempts": 0, "recipients": {},
                             "payload": {}, "created_at": due_at})
            if len(rows) >= 10_000:
                session.execute(insert(Notification), rows)
                added, rows = added + len(rows), []
        if rows:
            session.execute(insert(Notification), rows)
            added += len(rows)
    return added
