"""A sweep with nothing due over 1k, 10k and 100k open assignments (goal: 100k costs at most 5× 1k).

    .venv/bin/python bench/sweep_idle.py [--sizes 1000 10000 100000] [--postgres URL]

Rows are written with bulk inserts shaped exactly like a launch's (directives of
5 assignments, each with its planned ladder); then one warm-up sweep (it plans
the day's digests and publishes the status artifacts) and three timed sweeps at
the same moment, when nothing is due. Each sweep is the real `escalation-sweep`
flow run against a real `prefect server start`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LEADS, REGISTRY, TZ, prefect_server, report  # noqa: E402


def populate(url: str, assignments: int) -> None:
    from sqlalchemy import insert

    from models.db import open_database, session_scope
    from models.launch import upsert_registry
    from models.ladder import DEFAULT_LADDER, message_id_for, notification_key, plan
    from models.loader import load_registry
    from models.tables import Assignment, AssignmentAgency, Directive, Notification
    from models.timerules import TimeRules

    rules = TimeRules()
    launched = datetime(2021, 3, 1, 9, tzinfo=TZ)
    engine = open_database(url)
    with session_scope(engine) as session:
        upsert_registry(session, registry=load_registry(REGISTRY), source=str(REGISTRY), now=launched)
    per = 5
    for start in range(0, assignments // per, 1000):
        directives, rows, links, notes = [], [], [], []
        with session_scope(engine) as session:
            count = min(1000, assignments // per - start)
            result = session.execute(insert(Directive).returning(Directive.id), [
                {"slug": f"{i}-b-stttt", "number": f"{i}/B-STTTT", "issued_on": date(2021, 3, 1), "issuer": "stttt",
                 "subject": "Thử nghiệm", "place": "Long An", "registry_name": "long-an", "status": "active",
                 "launched_at": launched, "source": "bench", "definition": {}}
                for i in range(start, start + count)])
            directives = [r[0] for r in result]
            due_base = date(2021, 6, 30)
            for d_index, directive_id in enumerate(directives):
                for j in range(per):
                    rows.append({"directive_id": directive_id, "key": f"a{j}", "kind": "generic", "title": f"Nhiệm vụ {j}",
                                 "action": "Thực hiện.", "due": rules.calendar.roll_forward(due_base + timedelta(days=j)),
                                 "stated_due": due_base + timedelta(days=j), "status": "assigned", "milestone": False,
                                 "depends_on": [], "updated_at": launched})
            ids = [r[0] for r in session.execute(insert(Assignment).returning(Assignment.id, Assignment.directive_id), rows)]
            for index, assignment_id in enumerate(ids):
                row = rows[index]
                links.append({"assignment_id": assignment_id, "agency_code": LEADS[index % len(LEADS)], "role": "lead",
                              "position": 0})
                slug = f"{start + index // per}-b-stttt"
                for p in plan(DEFAULT_LADDER, due=row["due"], now=launched, rules=rules, include_launch=False):
                    key = notification_key(slug, row["key"], p.rung, p.on)
                    notes.append({"key": key, "message_id": message_id_for(key, "localhost"),
                                  "directive_id": row["directive_id"], "assignment_id": assignment_id, "rung": p.rung,
                                  "template": p.template, "on": p.on, "due_at": p.due_at, "repeat": p.repeat,
                                  "to_audience": list(p.to), "cc_audience": list(p.cc), "state": "pending",
                                  "attempts": 0, "recipients": {}, "payload": {}, "created_at": launched})
            session.execute(insert(AssignmentAgency), links)
            session.execute(insert(Notification), notes)


def measure(size: int, postgres: str | None) -> dict:
    if postgres:
        import psycopg

        name = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{postgres}/{name}"
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-idle-')) / 'dondoc.db'}"
    os.environ["DONDOC_DATABASE_URL"] = url
    started = time.perf_counter()
    populate(url, size)
    populated = time.perf_counter() - started
    from flows.sweep import escalation_sweep

    now = datetime(2021, 3, 2, 10, tzinfo=TZ)
    escalation_sweep(now=now)  # warm-up: today's digests and first status artifacts
    times = []
    for _ in range(3):
        t = time.perf_counter()
        result = escalation_sweep(now=now)
        times.append(time.perf_counter() - t)
        assert result["sent"] == 0 and result["artifacts"] == 0, result
    return {"backend": "postgresql" if postgres else "sqlite", "open_assignments": size,
            "sweep_seconds": round(statistics.median(times), 3), "populate_seconds": round(populated, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--postgres")
    args = parser.parse_args()
    with prefect_server() as api:
        os.environ["PREFECT_API_URL"] = api
        os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
        os.environ.setdefault("DONDOC_SMTP_PORT", "1")  # nothing is due: nothing may be sent
        results = [measure(size, args.postgres) for size in args.sizes]
    for item in results:
        report("sweep_idle", item)
    report("sweep_idle_ratio", {"backend": results[0]["backend"],
                                "largest_over_smallest": round(results[-1]["sweep_seconds"] / results[0]["sweep_seconds"], 2)})


if __name__ == "__main__":
    main()
