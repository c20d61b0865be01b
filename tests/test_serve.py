"""`dondoc serve` as a real process: it sweeps at start, keeps its jobs in the project database, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from tests.conftest import SEED


def test_serve_sweeps_keeps_jobs_and_stops_cleanly(database, smtp, prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "DONDOC_SWEEP_MINUTES": "1"}
    launch = subprocess.run([sys.executable, "-m", "dondoc", "launch", str(SEED)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert launch.returncode == 0, launch.stderr
    server = subprocess.Popen([sys.executable, "-m", "dondoc", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(smtp.messages()) < 5:
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.5)
        assert len(smtp.messages()) >= 5  # the start-up sweep sent the five notices (and overdue rungs)
        with create_engine(database).connect() as conn:
            jobs = {row[0] for row in conn.execute(text("select id from apscheduler_jobs"))}
        assert jobs == {"sweep-interval", "sweep-morning"}
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "Traceback" not in err and "Đã dừng." in err


def test_serve_back_after_five_weeks_sends_what_is_true_today_through_every_job(database, smtp, prefect_server,
                                                                                 tmp_path, capsys):
    """serve's own scheduler, in this process: the start-up sweep, then the interval and 08:00 jobs as they tick.

    The jobs are serve's (build_scheduler); the test only brings their next run forward, one after another,
    instead of waiting for 08:00 and DONDOC_SWEEP_MINUTES.
    """
    import queue
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
    from sqlmodel import select

    from dondoc.serve import build_scheduler
    from dondoc.testing import write_directives
    from models.store.db import open_database, transaction
    from models.lifecycle.ladder import next_occurrence
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.settings import get_settings
    from models.store.tables import Notification
    from models.calendar.timerules import TimeRules, wall_clock
    from notifications.dispatch import dispatch_batch

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    rules = TimeRules()
    today = wall_clock(tz).date()
    # Due 26 working days ago: every rung of the ladder, and five report-ups, fell while serve was stopped.
    due = rules.calendar.add_working_days(rules.calendar.roll_forward(today), -26)
    issued = due - timedelta(days=30)
    path = write_directives(tmp_path / "directives", 1, 2, issued=issued, due=due)[0]
    launched = datetime.combine(issued, datetime.min.time().replace(hour=9), tzinfo=tz)
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(path), now=launched, rules=rules, actor="t")
    settings = get_settings()
    dispatch_batch(open_database(settings.database_url), now=launched + timedelta(minutes=5), settings=settings,
                   rules=rules)  # serve was running at launch: the notices went out

    finished: queue.Queue = queue.Queue()
    scheduler = build_scheduler(settings)
    scheduler.add_listener(lambda event: finished.put(event.job_id), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        assert finished.get(timeout=120) == "sweep-startup"
        for job in ("sweep-interval", "sweep-morning", "sweep-interval"):
            scheduler.modify_job(job, next_run_time=wall_clock(tz))
            assert finished.get(timeout=120) == job
    finally:
        scheduler.shutdown(wait=True)
    err = capsys.readouterr().err
    assert err.count("Quét: gửi") == 4 and "Quét lỗi" not in err, err

    arrivals = smtp.controller.handler.arrivals
    assert len(arrivals) == len(set(arrivals))
    for key in ("a1", "a2"):
        rungs = [m.split(".")[0].lstrip("<") for m in arrivals if f".{key}." in m]
        # The lead's notice and its copy at launch; now only the escalation, then one report-up.
        assert rungs == ["notice", "notice", "escalation", "report-up"], rungs
    with transaction() as session:
        rows = session.exec(select(Notification).where(Notification.assignment_id.is_not(None))).all()
    skipped = [r for r in rows if r.state == "skipped"]
    assert sorted(r.rung for r in skipped) == sorted(["reminder", "due-soon", "overdue"] * 2)
    assert all(r.last_error.startswith("không gửi bù: ") for r in skipped)
    following = next_occurrence(today, 5, rules)[0]
    reports = [r for r in rows if r.rung == "report-up"]
    assert sorted(r.state for r in reports) == ["pending", "pending", "sent", "sent"]
    assert {r.on for r in reports if r.state == "pending"} == {following}  # resumed from today
