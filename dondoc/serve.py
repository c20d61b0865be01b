"""``dondoc serve``: the clock of a one-machine install (APScheduler 3)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from models.settings import Settings, get_settings

# The job store lives in the project database, so the schedule survives a
# restart. APScheduler 3 must never share a job store between two processes:
# run one `dondoc serve` per database.
JOB_TABLE = "apscheduler_jobs"


def sweep_job() -> None:
    """One sweep on the real clock; referenced by the job store as ``dondoc.serve:sweep_job``."""
    from dondoc.app import err
    from flows.sweep import escalation_sweep

    try:
        result = escalation_sweep()
    except Exception as exc:  # noqa: BLE001 - the clock must keep ticking; the run is failed in Prefect
        err.print(f"Quét lỗi: {type(exc).__name__}: {exc}", markup=False)
        return
    err.print(f"Quét: gửi {result['sent']}, lỗi {result['failed']}, chờ gửi lại {result['retrying']}.", markup=False)


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=settings.database_url, tablename=JOB_TABLE),
                   "once": MemoryJobStore()},
        timezone=settings.tz,
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    # Interval ticks that were missed while stopped are covered by the start-up sweep, which sends every
    # overdue row in order; so a late tick may simply run (no grace limit) but never piles up (coalesce).
    scheduler.add_job(sweep_job, IntervalTrigger(minutes=settings.sweep_minutes, timezone=settings.tz),
                      id="sweep-interval", name="quét định kỳ", replace_existing=True, misfire_grace_time=None)
    scheduler.add_job(sweep_job, CronTrigger(day_of_week="mon-fri", hour=8, minute=0, timezone=settings.tz),
                      id="sweep-morning", name="quét 08:00", replace_existing=True, misfire_grace_time=3600)
    return scheduler


def run_clock(*, on_started: Callable[[], None] | None = None, stop: threading.Event | None = None) -> None:
    """Sweep once now (catching up on anything missed), then tick until Ctrl-C or SIGTERM.

    Shutting down waits for a sweep in progress to finish.
    """
    settings = get_settings()
    stop = stop or threading.Event()
    scheduler = build_scheduler(settings)
    previous = _install_signals(stop)
    try:
        # The catch-up sweep runs on a scheduler thread like every other sweep: Prefect takes over
        # SIGTERM in the main thread while a flow runs there, and serve must keep it to stop cleanly.
        scheduler.add_job(sweep_job, id="sweep-startup", name="quét khi khởi động", jobstore="once")
        scheduler.start()
        if on_started:
            on_started()
        while not stop.wait(0.5):
            pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        _restore_signals(previous)


def _install_signals(stop: threading.Event):
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous


def _restore_signals(previous) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
