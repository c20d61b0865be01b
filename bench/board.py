"""Building the board (the Prefect artifact ``board``) at 1,000 open directives (goal: ≤ 1 s).

    .venv/bin/python bench/board.py [--directives 1000] [--runs 5] [--postgres URL]

Rows are written with the bulk inserts of bench/sweep_idle.py (dondoc.testing.populate: directives of 5
assignments, each with its planned ladder), then a tenth of the directives get a result waiting for
review, a tenth an extension request pending, a twentieth a refusal. The board is built at a moment when
three of each directive's assignments are overdue and two due within five working days, so every list is
long. The build is timed in full, as the sweep's ``publish-board`` task does it (the queries, the agency
table through models/oversight/figures.py, the Markdown), without the one API call that stores it: the
median wall time, and the process's CPU time, which a busy machine disturbs less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TZ, fresh_database, report  # noqa: E402
from dondoc.testing import populate  # noqa: E402


def waiting_rows(url: str, launched: datetime) -> None:
    """Results to review, extension requests and refusals, in bulk."""
    from sqlalchemy import insert, update
    from sqlmodel import select

    from models.store.db import open_database, session_scope
    from models.store.tables import Assignment, AssignmentAgency, ExtensionRequest

    with session_scope(open_database(url)) as session:
        rows = session.exec(select(Assignment.id, Assignment.directive_id, Assignment.key, Assignment.due)).all()
        by_key = {(d, k): (i, due) for i, d, k, due in rows}
        directives = sorted({d for _, d, _, _ in rows})
        reported = [by_key[(d, "a4")][0] for d in directives[::10]]
        declined = [by_key[(d, "a3")][0] for d in directives[5::20]]
        asked = [by_key[(d, "a2")] for d in directives[3::10]]
        session.execute(update(Assignment).where(Assignment.id.in_(reported))
                        .values(status="reported", reported_on=launched.date() + timedelta(days=20),
                                updated_at=launched + timedelta(days=20)))
        session.execute(update(Assignment).where(Assignment.id.in_(declined))
                        .values(status="declined", updated_at=launched + timedelta(days=3)))
        leads = dict(session.exec(select(AssignmentAgency.assignment_id, AssignmentAgency.agency_code)
                                  .where(AssignmentAgency.assignment_id.in_([i for i, _ in asked]))).all())
        session.execute(insert(ExtensionRequest), [
            {"assignment_id": i, "agency_code": leads[i], "requested_at": launched + timedelta(days=30),
             "until": due + timedelta(days=30), "reason": "Chờ số liệu", "state": "pending"} for i, due in asked])


def measure(directives: int, runs: int, postgres: str | None) -> dict:
    from models.calendar.timerules import TimeRules
    from models.oversight.board import build_board
    from models.store.db import open_database, session_scope
    from notifications.board import board_markdown

    rules = TimeRules()
    launched = datetime(2021, 3, 1, 9, tzinfo=TZ)
    with fresh_database(postgres, "board") as url:
        started = time.perf_counter()
        populate(url, directives * 5, launched=launched)
        waiting_rows(url, launched)
        populated = time.perf_counter() - started
        # populate's first due date is 120 days after the launch (a0), the next ones a day apart; two working
        # days after a1's, a0–a2 are overdue and a3–a4 due within five working days.
        first = rules.calendar.roll_forward(rules.today(launched) + timedelta(days=120))
        second = rules.calendar.roll_forward(rules.today(launched) + timedelta(days=121))
        now = datetime.combine(rules.calendar.add_working_days(second, 2), datetime.min.time(), TZ).replace(hour=10)
        engine = open_database(url)
        times, cpu, markdown, board = [], [], "", None
        for _ in range(runs + 1):  # the first run warms the caches (imports, the engine's pool): not counted
            t, c = time.perf_counter(), time.process_time()
            with session_scope(engine) as session:
                board = build_board(session, now=now, rules=rules)
            markdown = board_markdown(board, tz=rules.tz)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        assert board.directives == directives and board.overdue and board.due_soon and board.waiting, board
        assert board.overdue[0].due == first
    return {"backend": "postgresql" if postgres else "sqlite", "open_directives": directives,
            "open_assignments": board.open, **board.counts, "agencies": len(board.agencies),
            "markdown_chars": len(markdown), "build_seconds": round(statistics.median(times[1:]), 3),
            "max_seconds": round(max(times[1:]), 3), "cpu_seconds": round(statistics.median(cpu[1:]), 3),
            "populate_seconds": round(populated, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directives", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres")
    args = parser.parse_args()
    report("board", measure(args.directives, args.runs, args.postgres))


if __name__ == "__main__":
    main()
