"""The outbox under faults (issue 10): a live sweep keeps its batch, a lost database ends a sweep instead of hanging
it, a crash loop re-sends little and makes progress, a tarpitting mail server bounds the sweep.

Each test drives real parts: aiosmtpd counting Message-IDs at the server, SQLite and PostgreSQL, and real `dondoc`
processes where the fault needs one (a crash is SIGKILL of a real `dondoc sweep`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from dondoc.mailbox import free_port
from dondoc.testing import plan_due_rows, write_directives
from models.store.db import open_database, transaction
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.settings import get_settings
from models.store.tables import Notification
from models.calendar.timerules import TimeRules, wall_clock
from notifications.dispatch import dispatch_batch
from notifications import outbox
from notifications.smtp import STALLS
from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
LAUNCH = datetime(2020, 11, 30, 9, tzinfo=TZ)


def launch_seed():
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=LAUNCH, rules=RULES, actor="t")


def dispatch(now, **kwargs):
    settings = get_settings()
    return dispatch_batch(open_database(settings.database_url), now=now, settings=settings, rules=RULES, **kwargs)


def sent_ids() -> list[str]:
    with transaction() as session:
        recipients = session.exec(select(Notification.recipients).where(Notification.state == "sent")).all()
    return [envelope["message_id"] for r in recipients for envelope in r["envelopes"]]


def test_a_claim_is_a_lease_on_the_wall_clock_renewed_while_held_and_taken_over_once_lapsed(database):
    launch_seed()
    wall = datetime(2026, 1, 5, 10, tzinfo=TZ)  # the wall clock, driven by the test; `now` is the sweep's own

    def take(worker, *, after, now=LAUNCH + timedelta(minutes=5)):
        with transaction() as session:
            return outbox.claim(session, now=now, limit=100, worker=worker, stamp=wall + timedelta(seconds=after),
                                lease=60)

    held = take("first", after=0)
    assert len(held) == 5  # the notices
    # A later sweep, however late its `now`, gets nothing while the lease lasts…
    assert [i for i in take("second", after=59, now=LAUNCH + timedelta(days=2)) if i in held] == []
    with transaction() as session:  # …and the holder renews it while its batch is in flight
        assert outbox.renew(session, worker="first", stamp=wall + timedelta(seconds=45)) == set(held)
    assert take("third", after=100) == []
    # Once it lapses (a crashed sweep), the rows are taken over, within the lease of the crash.
    assert take("fourth", after=106) == held
    with transaction() as session:
        assert outbox.renew(session, worker="first", stamp=wall + timedelta(seconds=107)) == set()


def test_a_live_sweep_keeps_its_batch_against_a_later_now_even_past_its_lease(database, smtp, monkeypatch):
    """The issue's race: a second sweep, started mid-batch with a later `now`, took the first one's rows."""
    monkeypatch.setenv("DONDOC_CLAIM_LEASE_SECONDS", "2")
    monkeypatch.setenv("DONDOC_SMTP_CONNECTIONS", "1")  # one message after another: the batch lasts 47 × 0.12 s
    launch_seed()
    plan_due_rows("2550-stttt-bctt", 6, LAUNCH)  # 35 rows, 47 messages
    smtp.faults.delay = 0.12
    first: dict = {}
    started = time.monotonic()
    runner = threading.Thread(target=lambda: first.update(result=dispatch(LAUNCH + timedelta(minutes=5))))
    runner.start()
    while time.monotonic() - started < 4.5 and runner.is_alive():
        time.sleep(0.05)
    assert runner.is_alive() and len(smtp.controller.handler.arrivals) > 10  # mid-batch, past two leases
    second = dispatch(LAUNCH + timedelta(days=1))  # the next day's sweep: a later `now`
    runner.join(60)
    assert first["result"].claimed == 35 and second.claimed == 0
    arrivals = Counter(smtp.controller.handler.arrivals)
    assert arrivals.most_common(1)[0][1] == 1 and sorted(arrivals) == sorted(sent_ids())


def test_a_sweep_whose_lease_lapsed_stops_sending_those_rows_and_leaves_their_record_to_the_new_holder(database, smtp,
                                                                                                      monkeypatch):
    """Should a holder's lease lapse all the same (its clock stalled, as a paused machine's would), it learns so
    at its next renewal: it sends none of those rows from then on, and records none of them."""
    monkeypatch.setenv("DONDOC_CLAIM_LEASE_SECONDS", "2")
    monkeypatch.setenv("DONDOC_SMTP_CONNECTIONS", "1")
    launch_seed()
    plan_due_rows("2550-stttt-bctt", 6, LAUNCH)  # 35 rows, 47 messages
    smtp.faults.delay = 0.1
    wall = wall_clock(TZ)
    first: dict = {}
    runner = threading.Thread(target=lambda: first.update(
        result=dispatch(LAUNCH + timedelta(minutes=5), clock=lambda: wall)))  # its renewals keep stamping `wall`
    runner.start()
    wait_arrivals(smtp, 14)  # 1.4 s in: the first has recorded some
    second = dispatch(LAUNCH + timedelta(minutes=5), clock=lambda: wall + timedelta(seconds=10))
    runner.join(60)
    first = first["result"]
    assert first.claimed == 35 and 0 < second.claimed < 35  # the second took what the first had not recorded
    assert sum(first.counts.values()) + sum(second.counts.values()) == 35  # each row recorded once, by its holder
    with transaction() as session:
        assert set(session.exec(select(Notification.state).where(Notification.due_at <= LAUNCH)).all()) == {"sent"}
    arrivals = smtp.controller.handler.arrivals
    # Only what the first sent and had not recorded, or sent before its next renewal (0.5 s), arrived twice.
    assert set(arrivals) == set(sent_ids()) and len(arrivals) - len(set(arrivals)) <= 15  # 36 if it went on


def due_not_sent() -> int:
    with transaction() as session:
        return session.exec(select(func.count()).select_from(Notification).where(
            Notification.due_at <= LAUNCH, Notification.state != "sent")).one()


def sweep_all(now):
    """Dispatch in-process until nothing more is claimed."""
    while dispatch(now).claimed:
        pass


def _admin(url: str) -> tuple[str, str]:
    server, _, name = url.replace("+psycopg", "").rpartition("/")
    return server + "/postgres", name


def cut_database(url: str) -> None:
    """The database goes away and stays away: every session on it is terminated and new ones are refused."""
    import psycopg

    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def restore_database(url: str) -> None:
    import psycopg

    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def wait_arrivals(smtp, count: int, process=None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(smtp.controller.handler.arrivals) < count and time.monotonic() < deadline:
        assert process is None or process.poll() is None, process.communicate()
        time.sleep(0.02)
    assert len(smtp.controller.handler.arrivals) >= count


def test_a_database_lost_early_in_a_batch_ends_the_sweep_with_one_line(database, smtp, subprocess_env, tmp_path,
                                                                      monkeypatch):
    """The issue's hang: outcomes could not be written, the senders stopped, and the composer waited for ever."""
    if not database.startswith("postgresql"):
        pytest.skip("the database going away for good is PostgreSQL's fault; SQLite's lock ends a write within 30 s")
    monkeypatch.setenv("DONDOC_CLAIM_LEASE_SECONDS", "2")
    launch_seed()
    plan_due_rows("2550-stttt-bctt", 40, LAUNCH)  # 205 rows: more than a sender and the composer's queue hold
    smtp.faults.delay = 0.01
    env = {**subprocess_env, "DONDOC_CLAIM_LEASE_SECONDS": "2", "DONDOC_SMTP_CONNECTIONS": "1"}
    sweep = subprocess.Popen([sys.executable, "-m", "dondoc", "sweep", "--now", "2020-11-30T09:05+07:00"], env=env,
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_arrivals(smtp, 20, sweep)
        cut_database(database)
        _, err = sweep.communicate(timeout=60)  # the bound: it hung for ever before
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.communicate()
        restore_database(database)
    assert sweep.returncode == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("Lỗi: ") and "cơ sở dữ liệu" in err, err
    smtp.faults.delay = 0
    time.sleep(2)  # the lost sweep's lease lapses
    sweep_all(LAUNCH + timedelta(minutes=20))
    arrivals = Counter(smtp.controller.handler.arrivals)
    assert due_not_sent() == 0 and set(arrivals) == set(sent_ids())
    assert max(arrivals.values()) <= 2  # what was sent and not recorded went out once more, with its Message-ID


CRASHES = 5  # each costs a `dondoc sweep` start (~5 s here); bench/outbox_faults.py runs ten


def test_crashes_in_a_row_send_no_message_more_than_twice_and_each_makes_progress(
        database, smtp, subprocess_env, tmp_path, monkeypatch):
    """The issue's crash loop: outcomes were recorded every 100 rows, so ten crashes sent one message 11 times."""
    if not database.startswith("sqlite"):
        pytest.skip("the lease and the record cadence do not depend on the database; SQLite is the default install")
    monkeypatch.setenv("DONDOC_CLAIM_LEASE_SECONDS", "2")  # a crashed sweep's rows come back to the next one
    launch_seed()
    plan_due_rows("2550-stttt-bctt", 30, LAUNCH)  # 155 rows, 190 messages: more than the crashes send
    smtp.faults.delay = 0.2
    env = {**subprocess_env, "DONDOC_CLAIM_LEASE_SECONDS": "2"}
    arrivals = smtp.controller.handler.arrivals
    progress = []
    for crash in range(CRASHES):
        before, recorded = len(arrivals), len(sent_ids())
        sweep = subprocess.Popen([sys.executable, "-m", "dondoc", "sweep", "--now",
                                  (LAUNCH + timedelta(minutes=5 + crash)).isoformat()],
                                 env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_arrivals(smtp, before + 1, sweep)
        time.sleep(1.3)  # past the one second within which every outcome is recorded
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
        progress.append(len(sent_ids()) - recorded)
        # Its lease lapses before the next sweep claims: a sweep that starts quickly (on the session's Prefect
        # server) could otherwise find every row still held by the dead one, send nothing and end (seen in CI).
        time.sleep(2.2)
    assert all(n > 0 for n in progress), progress  # each crash recorded some messages
    assert due_not_sent() > 0  # the crashes left work: the last sweep below finishes it
    smtp.faults.delay = 0
    time.sleep(2)  # the last crash's lease lapses
    sweep_all(LAUNCH + timedelta(minutes=30))
    copies = Counter(arrivals)
    assert due_not_sent() == 0 and set(copies) == set(sent_ids())
    assert max(copies.values()) <= 2, copies.most_common(3)


@pytest.mark.parametrize("fault", ["tarpit", "drip"])
def test_a_stalling_mail_server_is_given_up_on_after_three_timeouts_and_the_rest_waits(database, smtp, monkeypatch,
                                                                                     fault):
    """A tarpit answers DATA never; a drip answers every command just within the timeout, the message never."""
    # Twice the margins it had (0.5 s and 0.3 s): under load a 0.3 s drip plus the machine's own delay passed the
    # 0.5 s timeout on a command, not only on the message (seen in CI).
    monkeypatch.setenv("DONDOC_SMTP_TIMEOUT", "1.0")
    launch_seed()
    plan_due_rows("2550-stttt-bctt", 4, LAUNCH)  # 25 rows
    if fault == "tarpit":
        smtp.faults.delay = 60
    else:
        smtp.faults.slow = 0.6  # MAIL, RCPT, DATA: each under 1 s, the message over it
    now = LAUNCH + timedelta(minutes=5)
    result = dispatch(now)
    assert result.claimed == 25 and result.counts == Counter({"retrying": 25}) and result.unavailable
    connections = get_settings().smtp_connections
    # Each connection tried a message (a freed one may start one more before the third timeout); no more.
    assert smtp.controller.handler.attempts <= connections + STALLS - 1
    with transaction() as session:
        rows = session.exec(select(Notification).where(Notification.due_at <= LAUNCH)).all()
    assert {r.state for r in rows} == {"pending"}  # back with their backoff: none failed, none sent
    assert all(r.next_attempt_at >= now + timedelta(seconds=60) for r in rows)
    untried = [r for r in rows if "các thư còn lại chờ lượt gửi sau" in r.last_error]
    assert len(untried) >= 25 - smtp.controller.handler.attempts


def test_a_sweep_against_a_tarpit_stops_after_the_batch_that_gave_up(database, smtp, subprocess_env, tmp_path):
    if not database.startswith("sqlite"):
        pytest.skip("the sweep's loop over batches does not depend on the database")
    launch_seed()
    plan_due_rows("2550-stttt-bctt", 4, LAUNCH)  # 25 rows: five batches of 5
    smtp.faults.delay = 60
    env = {**subprocess_env, "DONDOC_SMTP_TIMEOUT": "0.5", "DONDOC_BATCH_SIZE": "5"}
    done = subprocess.run([sys.executable, "-m", "dondoc", "sweep", "--now", "2020-11-30T09:05+07:00"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Đã gửi: 0 thông báo (0 thư) · Lỗi: 0 · Chờ gửi lại: 5\n"
    assert done.stderr.startswith("Máy chủ thư không sẵn sàng (máy chủ thư không trả lời kịp 3 lần liên tiếp")
    first, *rest = done.stderr.splitlines()
    assert first.endswith("các thư còn lại sẽ được gửi ở lượt quét sau.")
    assert rest == [line for line in rest if line.startswith("Gợi ý: chạy `dondoc serve`")]  # the slow path's hint, last
    with transaction() as session:
        attempts = Counter(session.exec(select(Notification.attempts).where(Notification.due_at <= LAUNCH)).all())
    assert attempts == Counter({1: 5, 0: 20})  # the other batches were not claimed: they wait for the next sweep


def launch_today(tmp_path, assignments: int) -> None:
    """A directive launched on the real clock (serve sweeps on it): its notices are due now, the rest weeks ahead."""
    today = wall_clock(TZ).date()
    path = write_directives(tmp_path / "directives", 1, assignments, issued=today, due=today + timedelta(days=60))[0]
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(path), now=wall_clock(TZ) - timedelta(minutes=1),
                         rules=RULES, actor="t")


def test_serve_runs_one_sweep_at_a_time_and_a_tick_meanwhile_is_skipped(database, smtp, prefect_server, capsys):
    """The start-up sweep, the interval and the 08:00 job are one `sweep_job` under one lock."""
    if not database.startswith("sqlite"):
        pytest.skip("the lock is the serve process's own; the database does not matter")
    from dondoc import serve

    launch_today(Path.cwd(), 4)  # four notices, each to its lead and a copy: 8 messages
    smtp.faults.delay = 0.5
    first = threading.Thread(target=serve.sweep_job)
    first.start()
    wait_arrivals(smtp, 1)
    serve.sweep_job()  # a tick while the first sweep sends: it returns at once
    assert first.is_alive()
    first.join(60)
    err = capsys.readouterr().err
    assert err.count("Bỏ qua lượt quét: lượt quét trước chưa xong.") == 1
    assert err.count("Quét: gửi 4 thông báo (8 thư)") == 1, err
    assert Counter(smtp.controller.handler.arrivals).most_common(1)[0][1] == 1
    assert serve.SWEEPING.acquire(blocking=False)  # free for the next tick
    serve.SWEEPING.release()


def test_serve_survives_a_database_lost_mid_sweep_and_stops_on_sigterm(database, smtp, subprocess_env, tmp_path):
    """The sweep thread must not hang: serve logs the failure, stays up, and SIGTERM stops it."""
    if not database.startswith("postgresql"):
        pytest.skip("the database going away for good is PostgreSQL's fault")
    launch_today(tmp_path, 10)
    plan_due_rows("1-b-stttt", 20, wall_clock(TZ) - timedelta(minutes=1))  # 210 rows due: more than a sender holds
    smtp.faults.delay = 0.02
    port = free_port()
    served = subprocess.Popen([sys.executable, "-m", "dondoc", "serve", "--port", str(port)],
                              env={**subprocess_env, "DONDOC_SMTP_CONNECTIONS": "1"}, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(served.stderr), daemon=True)
    reader.start()
    try:
        wait_arrivals(smtp, 10, served)  # the start-up sweep is sending
        cut_database(database)
        deadline = time.monotonic() + 60
        while not any(line.startswith("Quét lỗi") for line in lines) and time.monotonic() < deadline:
            assert served.poll() is None, lines
            time.sleep(0.2)
        assert any(line.startswith("Quét lỗi") and "cơ sở dữ liệu" in line for line in lines), lines
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=60)
    finally:
        if served.poll() is None:
            served.kill()
        restore_database(database)
    reader.join(10)
    assert served.returncode == 0 and "Đã dừng.\n" in lines, lines
    assert not any("Traceback" in line for line in lines), lines
