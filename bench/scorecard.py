"""`dondoc scorecard --period 2021` over 100,000 assignments (goal: ≤ 2 s), and the digest at 400 directives of
one coordinator (goal: 1 message).

    .venv/bin/python bench/scorecard.py [--assignments 100000] [--postgres URL]

The assignments are written in bulk, shaped like a launch's (bench: dondoc.testing.populate), each with its
`created` event; then a year is played in bulk: 40 % done on time, 20 % done late, 10 % extended once, the rest
left open (half of them overdue on the day of the figures). Timed: the whole command, a fresh process
(`dondoc scorecard --period 2021 --json --now …`), median of three; and `figures()` alone in this process, as
of the end of the year (rows read as they are) and as of mid-year (the assignments changed since replayed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, TZ, fresh_database, report  # noqa: E402
from dondoc.testing import populate  # noqa: E402

LAUNCHED = datetime(2021, 1, 4, 9, tzinfo=TZ)


def play_year(url: str) -> dict:
    """Events and outcomes for every assignment, in bulk (the rules' own tables, no shortcuts in shape)."""
    from sqlalchemy import insert, update
    from sqlmodel import select

    from models.store.db import open_database, session_scope
    from models.store.tables import Assignment, Event

    engine = open_database(url)
    with session_scope(engine) as session:
        rows = session.exec(select(Assignment.id, Assignment.directive_id, Assignment.due)).all()
    counts = {"on_time": 0, "late": 0, "extended": 0, "open": 0}
    # Spread the due dates over the year so the period holds them all, and outcomes by position.
    with session_scope(engine) as session:
        events, changes = [], []
        for n, (assignment_id, directive_id, _) in enumerate(rows):
            due = date(2021, 1, 15) + timedelta(days=(n * 7) % 330)
            events.append({"at": LAUNCHED, "actor": "bench", "kind": "created", "directive_id": directive_id,
                           "assignment_id": assignment_id, "payload": {"due": due.isoformat(), "leads": []}})
            change = {"id": assignment_id, "due": due, "stated_due": due, "status": "assigned", "done_on": None}
            bucket = n % 10
            if bucket < 4 or bucket in (4, 5):
                done = due - timedelta(days=1) if bucket < 4 else due + timedelta(days=6)
                change.update(status="done", done_on=done)
                events.append({"at": datetime.combine(done, datetime.min.time(), TZ) + timedelta(hours=10),
                               "actor": "bench", "kind": "status", "directive_id": directive_id,
                               "assignment_id": assignment_id,
                               "payload": {"from": "assigned", "to": "done", "done_on": done.isoformat()}})
                counts["on_time" if bucket < 4 else "late"] += 1
            elif bucket == 6:
                new_due = due + timedelta(days=14)
                change.update(due=new_due)
                events.append({"at": datetime.combine(due, datetime.min.time(), TZ), "actor": "bench",
                               "kind": "extended", "directive_id": directive_id, "assignment_id": assignment_id,
                               "payload": {"from": due.isoformat(), "to": new_due.isoformat()}})
                counts["extended"] += 1
            else:
                counts["open"] += 1
            changes.append(change)
        for i in range(0, len(events), 20_000):
            session.execute(insert(Event), events[i:i + 20_000])
        session.execute(update(Assignment), [
            {"id": c["id"], "due": c["due"], "stated_due": c["stated_due"], "status": c["status"],
             "done_on": c["done_on"]} for c in changes])
    return counts


def command(url: str) -> float:
    env = {**os.environ, "DONDOC_DATABASE_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    times = []
    for _ in range(3):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dondoc", "scorecard", "--period", "2021", "--json",
                               "--now", "2021-12-31T17:00+07:00"], env=env, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        assert done.returncode == 0, done.stderr
    return statistics.median(times)


def in_process(url: str, at: datetime) -> float:
    from models.calendar.timerules import TimeRules
    from models.oversight.figures import figures
    from models.store.db import open_database, session_scope

    engine = open_database(url)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        with session_scope(engine) as session:
            found = figures(session, span=(date(2021, 1, 1), date(2021, 12, 31)), now=at, rules=TimeRules(),
                            details=False)
        times.append(time.perf_counter() - t)
    assert found.rows
    return statistics.median(times)


def digest_at(postgres: str | None, directives: int = 400) -> dict:
    """400 directives of one coordinator, news on each: one digest message, and how long it takes to build."""
    from sqlmodel import select

    from models.calendar.timerules import TimeRules
    from models.lifecycle.planning import plan_digests
    from models.store.db import open_database, session_scope
    from models.store.tables import Notification
    from notifications.context import BatchContext

    with fresh_database(postgres, "digest") as url:
        populate(url, directives * 5, launched=LAUNCHED)
        engine = open_database(url)
        from sqlalchemy import insert

        from models.store.tables import Directive, Event

        with session_scope(engine) as session:  # the launches are the news of the day
            session.execute(insert(Event), [{"at": LAUNCHED, "actor": "bench", "kind": "launched", "directive_id": i,
                                             "payload": {}} for i in session.exec(select(Directive.id)).all()])
        morning = datetime(2021, 1, 5, 8, tzinfo=TZ)
        with session_scope(engine) as session:
            planned = plan_digests(session, now=morning, rules=TimeRules(), domain="localhost")
        t = time.perf_counter()
        with session_scope(engine) as session:
            rows = session.exec(select(Notification).where(Notification.rung == "digest")).all()
            batch = BatchContext(session, list(rows), now=morning, rules=TimeRules())
            envelopes = sum(len(batch.prepare(r).envelopes) for r in rows)
        built = time.perf_counter() - t
    return {"directives": directives, "digests_planned": planned, "messages": envelopes,
            "build_seconds": round(built, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    with fresh_database(args.postgres, "scorecard") as url:
        os.environ["DONDOC_DATABASE_URL"] = url
        t = time.perf_counter()
        populate(url, args.assignments, launched=LAUNCHED)
        outcomes = play_year(url)
        built = time.perf_counter() - t
        figures = {"backend": "postgresql" if args.postgres else "sqlite", "assignments": args.assignments,
                   "outcomes": outcomes, "populate_seconds": round(built, 1),
                   "command_seconds": round(command(url), 3),
                   "figures_end_of_year_seconds": round(in_process(url, datetime(2021, 12, 31, 17, tzinfo=TZ)), 3),
                   "figures_mid_year_seconds": round(in_process(url, datetime(2021, 6, 30, 17, tzinfo=TZ)), 3)}
    report("scorecard", figures)
    report("digest", digest_at(args.postgres))


if __name__ == "__main__":
    main()
