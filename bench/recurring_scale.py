"""Recurring reports at a province's size: 200 directives × 3 monthly reports (issue 13; goals: launch ≥ 100
assignments/s, an idle sweep over the year's 7,200 occurrences ≤ 1.2× today's idle sweep).

    .venv/bin/python bench/recurring_scale.py [--directives 200] [--reports 3] [--one-shot 2] [--launches 3] [--runs 5]
        [--postgres URL] [--launch-only]

Launch: writes ``--directives`` files, each with ``--reports`` recurring reports (every: month, report_day: 18,
until: 2021-12-31, leads and supporting agencies from directives/agencies/long-an.yaml) and ``--one-shot``
ordinary assignments, and launches them with one `dondoc launch FOLDER --json --now 2021-01-05T09:00+07:00` in a
subprocess against a real `prefect server start`, as bench/launch_many.py does. Counted as assignments: the
rows the launch wrote, i.e. the first occurrence of each report (period 2021-01) plus the one-shot assignments;
the series rows themselves are not counted. The seconds are the whole command, Python start-up and its flow run
included; the median of ``--launches`` launches, each into a fresh database.

Idle sweep: the same database is then taken through the year. ``open_due`` (what a sweep calls first) runs
on the day each later period opens (the day after the one before was due, 19/01 … 19/11), so every
occurrence, its agencies and its planned ladder are written by the real code: 12 occurrences a series,
7,200 for 200 × 3 (the last, 2021-12, opens on 19/11 and ends its series, ``until`` allowing no more).
No report is ever answered, so every past period is overdue, the worst case. Then warm-up sweeps on 01/12/2021 10:00, delivering to a discarding local SMTP sink (bench/sink.py), until
nothing is sent and nothing is left to publish (the catch-up of the year's rungs, the day's digests and
every first status artifact). The baseline is today's idle sweep as bench/sweep_idle.py measures it, at the
same number of open (one-shot) assignments, in the same run (its ``prepare``: bulk rows, warm-up sweeps).
Then ``--runs`` timed sweeps of each database at its moment, when nothing is due, the two interleaved so that
a busier minute on a shared machine weighs on both alike; medians, and their ratio. Each sweep is the real
`escalation-sweep` flow run (in this process) against the same Prefect server; its CPU seconds are this
process's, less moved by a busy machine than the wall time the goal is on.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LEADS, REGISTRY, TZ, fresh_database, prefect_server, report, sink  # noqa: E402

LAUNCH_AT = "2021-01-05T09:00+07:00"
UNTIL = date(2021, 12, 31)
SWEEP_AT = datetime(2021, 12, 1, 10, tzinfo=TZ)
SUPPORTING = ["viettel", "vnpt", "mobifone"]


def write_recurring(folder: Path, count: int, reports: int, one_shot: int) -> list[Path]:
    """``count`` directive files of ``reports`` monthly reports and ``one_shot`` ordinary assignments each."""
    (folder / "agencies").mkdir(parents=True, exist_ok=True)
    shutil.copy(REGISTRY, folder / "agencies" / "long-an.yaml")
    paths = []
    for i in range(count):
        lines = [f"number: {i + 1}/KH-UBND", "issued_on: 2021-01-04", "issuer: ubnd",
                 f"subject: Báo cáo định kỳ thử nghiệm số {i + 1}", "place: Long An",
                 "registry: agencies/long-an.yaml", "ack_within: 0", "assignments:"]
        for j in range(one_shot):
            lines += [f"  - key: a{j + 1}", f"    title: Nhiệm vụ thử nghiệm {j + 1}",
                      f"    action: Thực hiện nhiệm vụ thử nghiệm số {j + 1} của văn bản {i + 1}.",
                      f"    leads: [{LEADS[(i + j) % len(LEADS)]}]", "    supporting: [viettel]",
                      f"    due: 2021-{3 + j % 9:02d}-{10 + i % 15}"]
        for j in range(reports):
            lines += [f"  - key: bao-cao-{j + 1}", f"    title: Báo cáo định kỳ {j + 1}",
                      f"    action: Báo cáo tình hình thực hiện nội dung {j + 1} của văn bản {i + 1}.",
                      f"    leads: [{LEADS[(i + j) % len(LEADS)]}]",
                      f"    supporting: [{SUPPORTING[(i + j) % len(SUPPORTING)]}]",
                      "    every: month", "    report_day: 18", f"    until: {UNTIL}"]
        path = folder / f"r{i + 1:05d}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths




def counts(url: str) -> dict:
    from sqlalchemy import func
    from sqlmodel import select

    from models.store.db import open_database, session_scope
    from models.store.tables import Assignment, Notification, Series

    with session_scope(open_database(url)) as session:
        occurrences = session.exec(select(func.count()).select_from(Assignment)
                                   .where(Assignment.series_id.is_not(None))).one()
        one_shot = session.exec(select(func.count()).select_from(Assignment).where(Assignment.series_id.is_(None))).one()
        series = session.exec(select(func.count()).select_from(Series)).one()
        notifications = session.exec(select(func.count()).select_from(Notification)).one()
    return {"series": series, "occurrences": occurrences, "one_shot": one_shot, "notifications": notifications}


def launch(url: str, api: str, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-recurring-"))
    write_recurring(work / "directives", args.directives, args.reports, args.one_shot)
    env = {**os.environ, "PREFECT_API_URL": api, "DONDOC_DATABASE_URL": url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dondoc", "launch", str(work / "directives"), "--json",
                           "--now", LAUNCH_AT], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(done.stderr[-5000:])
    result = json.loads(done.stdout)
    reported = sum(item["assignments"] for item in result["launched"])
    rows = counts(url)
    assert rows["occurrences"] + rows["one_shot"] == reported, (rows, reported)
    assert rows["occurrences"] == args.directives * args.reports, rows
    return {"directives": len(result["launched"]), "assignments": reported,
            "first_occurrences": rows["occurrences"], "one_shot": rows["one_shot"], "series": rows["series"],
            "seconds": seconds, "cpu_seconds": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}


def through_the_year(url: str) -> dict:
    """Each later period opened by ``open_due`` at the instant it opens (the earliest ``next_opens_at``), as the
    sweeps of that day would have, up to the idle sweep's moment; seconds of all the openings."""
    from sqlalchemy import func
    from sqlmodel import select

    from models.calendar.timerules import TimeRules
    from models.lifecycle.occurrences import open_due
    from models.store.db import open_database, session_scope
    from models.store.tables import Series

    engine, rules, opened, days, seconds = open_database(url), TimeRules(), 0, 0, 0.0
    while True:
        with session_scope(engine) as session:
            day = session.exec(select(func.min(Series.next_opens_at))).one()
        if day is None or day.astimezone(TZ) > SWEEP_AT:
            break
        started = time.perf_counter()
        with session_scope(engine) as session:
            opened += len(open_due(session, now=day, rules=rules, domain="localhost"))
        seconds += time.perf_counter() - started
        days += 1
    return {"opening_days": days, "opened": opened, "open_due_seconds": round(seconds, 1)}


def warm_up(url: str) -> dict:
    """Sweeps at SWEEP_AT until nothing is sent and nothing is left to publish."""
    from flows.sweep import escalation_sweep

    os.environ["DONDOC_DATABASE_URL"] = url
    warmups, sent, started = 0, 0, time.perf_counter()
    while True:  # the year's catch-up, today's digests and every first status artifact
        result = escalation_sweep(now=SWEEP_AT)
        warmups += 1
        sent += result["sent"]
        assert not result["opened"] and not result["failed"], result
        if not result["sent"] and not result["artifacts"]:
            break
    return {"warmup_sweeps": warmups, "warmup_sent": sent, "warmup_seconds": round(time.perf_counter() - started, 1)}


def timed_sweep(url: str, now: datetime, into: dict) -> None:
    """One idle sweep of the database at ``url``: its wall and CPU seconds (this process's: the flow runs here)."""
    from flows.sweep import escalation_sweep

    os.environ["DONDOC_DATABASE_URL"] = url
    cpu, wall = time.process_time(), time.perf_counter()
    result = escalation_sweep(now=now)
    into.setdefault("wall", []).append(time.perf_counter() - wall)
    into.setdefault("cpu", []).append(time.process_time() - cpu)
    assert result["sent"] == 0 and result["artifacts"] == 0 and not result["opened"], result


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directives", type=int, default=200)
    parser.add_argument("--reports", type=int, default=3, help="monthly reports per directive")
    parser.add_argument("--one-shot", type=int, default=2, help="ordinary assignments per directive")
    parser.add_argument("--launches", type=int, default=3, help="launches, each into a fresh database (median)")
    parser.add_argument("--runs", type=int, default=5, help="timed idle sweeps of each database, interleaved")
    parser.add_argument("--postgres", help="a PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--launch-only", action="store_true", help="only the launch")
    args = parser.parse_args()
    backend = "postgresql" if args.postgres else "sqlite"
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    with prefect_server() as api, sink() as (port, received), \
            fresh_database(args.postgres, "recurring") as url, fresh_database(args.postgres, "idle") as baseline_url:
        os.environ["PREFECT_API_URL"] = api
        os.environ["DONDOC_SMTP_PORT"] = str(port)
        launches = []
        for _ in range(args.launches - 1):
            with fresh_database(args.postgres, "recurring") as other:
                launches.append(launch(other, api, args))
        launches.append(launch(url, api, args))  # the last one is kept for the idle sweep
        seconds = statistics.median(item["seconds"] for item in launches)
        launched = {**launches[-1], "seconds": round(seconds, 1),
                    "cpu_seconds": round(statistics.median(item["cpu_seconds"] for item in launches), 1),
                    "assignments_per_second": round(launches[-1]["assignments"] / seconds, 1),
                    "seconds_runs": [round(item["seconds"], 1) for item in launches]}
        report("recurring_launch", {"backend": backend, **launched, "goal_per_second": 100})
        if args.launch_only:
            return
        year = through_the_year(url)
        rows = counts(url)
        assert rows["occurrences"] == args.directives * args.reports * 12, rows
        warm = warm_up(url)
        open_assignments = rows["occurrences"] + rows["one_shot"]
        from bench.sweep_idle import NOW, prepare

        populated = prepare(baseline_url, open_assignments)
        recurring: dict = {}
        one_shot: dict = {}
        for _ in range(args.runs):  # interleaved, so that a busier minute weighs on both alike
            timed_sweep(url, SWEEP_AT, recurring)
            timed_sweep(baseline_url, NOW, one_shot)
    report("recurring_idle_sweep", {"backend": backend, **rows, "open_assignments": open_assignments, **year, **warm,
                                    "sweep_seconds": median(recurring["wall"]),
                                    "sweep_cpu_seconds": median(recurring["cpu"]),
                                    "sweep_runs": [round(t, 3) for t in recurring["wall"]]})
    report("sweep_idle", {"backend": backend, "open_assignments": open_assignments,
                          "sweep_seconds": median(one_shot["wall"]), "sweep_cpu_seconds": median(one_shot["cpu"]),
                          "sweep_runs": [round(t, 3) for t in one_shot["wall"]], "populate_seconds": round(populated, 1)})
    report("recurring_idle_ratio", {
        "backend": backend, "ratio": round(median(recurring["wall"]) / median(one_shot["wall"]), 2),
        "cpu_ratio": round(median(recurring["cpu"]) / median(one_shot["cpu"]), 2), "goal": 1.2,
        "launch_assignments_per_second": launched["assignments_per_second"], "launch_goal": 100,
        "sink_received": received.get("received"), "load_average": round(os.getloadavg()[0], 1)})


if __name__ == "__main__":
    main()
