"""One clock per database, and a busy port said plainly: the clock lease as a rule, in the database, and between real
`dondoc serve` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from dondoc.mailbox import free_port
from models.store.clocklease import LEASE_SECONDS, Claimant, Verdict, judge
from models.store.tables import ClockLease

T0 = datetime(2026, 12, 15, 2, 0, tzinfo=timezone.utc)
ME = Claimant(instance="me", host="may-a", pid=4242)


def row(*, instance="other", host="may-a", pid=1000, renewed=T0, lease=LEASE_SECONDS) -> ClockLease:
    return ClockLease(name="clock", instance=instance, host=host, pid=pid, started_at=T0 - timedelta(hours=1),
                      renewed_at=renewed, expires_at=renewed + timedelta(seconds=lease))


def alive(pid: int) -> bool:
    return True


def dead(pid: int) -> bool:
    return False


def not_asked(pid: int) -> bool:
    raise AssertionError("the process of another machine cannot be looked up")


# --- the rule, as a plain function -------------------------------------------------------------------------------

def test_a_free_or_own_lease_is_taken():
    assert judge(None, claimant=ME, now=T0, pid_alive=not_asked) is Verdict.FREE
    assert judge(row(instance="me"), claimant=ME, now=T0, pid_alive=not_asked) is Verdict.OURS


def test_a_live_holder_keeps_the_lease_until_it_expires():
    live_here = row(host="may-a", pid=1000)
    assert judge(live_here, claimant=ME, now=T0 + timedelta(seconds=29), pid_alive=alive) is Verdict.HELD
    assert judge(live_here, claimant=ME, now=T0 + timedelta(seconds=30), pid_alive=alive) is Verdict.EXPIRED
    # Frozen, or its pid now someone else's: expiry takes it over all the same.
    assert judge(live_here, claimant=ME, now=T0 + timedelta(hours=5), pid_alive=alive) is Verdict.EXPIRED


def test_a_dead_holder_on_this_machine_is_taken_over_at_once():
    assert judge(row(pid=1000), claimant=ME, now=T0 + timedelta(seconds=1), pid_alive=dead) is Verdict.DEAD
    # A pid that names no process (0 would be a process group to kill()) is dead without asking.
    for pid in (0, -1):
        assert judge(row(pid=pid), claimant=ME, now=T0, pid_alive=not_asked) is Verdict.DEAD
    # Our own pid in another instance's row: an earlier life of this pid (a container's serve is pid 1 again).
    assert judge(row(pid=ME.pid), claimant=ME, now=T0, pid_alive=alive) is Verdict.REUSED


def test_a_holder_on_another_machine_is_taken_over_only_when_expired():
    there = row(host="may-b", pid=1000)
    assert judge(there, claimant=ME, now=T0 + timedelta(seconds=29), pid_alive=not_asked) is Verdict.HELD
    assert judge(row(host="may-b", pid=ME.pid), claimant=ME, now=T0, pid_alive=not_asked) is Verdict.HELD
    assert judge(there, claimant=ME, now=T0 + timedelta(seconds=30), pid_alive=not_asked) is Verdict.EXPIRED


def test_the_rule_reads_the_holders_own_expiry_in_any_timezone():
    long = row(host="may-b", lease=600)  # a holder with a longer lease is respected
    hanoi = (T0 + timedelta(seconds=599)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert judge(long, claimant=ME, now=hanoi, pid_alive=not_asked) is Verdict.HELD
    with pytest.raises(ValueError):
        judge(long, claimant=ME, now=T0.replace(tzinfo=None), pid_alive=not_asked)


# --- the database part, on SQLite and PostgreSQL -----------------------------------------------------------------

def test_lease_taken_refused_renewed_lost_and_released_in_the_database(database):
    from models.store import clocklease
    from models.store.db import open_database

    engine = open_database(database)
    first = Claimant(instance="first", host="may-a", pid=1000)
    second = Claimant(instance="second", host="may-b", pid=2000)
    assert clocklease.take(engine, claimant=first, now=T0, pid_alive=not_asked) == (Verdict.FREE, None)

    verdict, held = clocklease.take(engine, claimant=second, now=T0 + timedelta(seconds=5), pid_alive=not_asked)
    assert verdict is Verdict.HELD and (held.instance, held.host, held.pid) == ("first", "may-a", 1000)
    assert held.started_at == T0 and held.expires_at == T0 + timedelta(seconds=LEASE_SECONDS)

    assert clocklease.renew(engine, instance="first", now=T0 + timedelta(seconds=10))
    verdict, _ = clocklease.take(engine, claimant=second, now=T0 + timedelta(seconds=35), pid_alive=not_asked)
    assert verdict is Verdict.HELD  # renewed at +10: good until +40

    verdict, found = clocklease.take(engine, claimant=second, now=T0 + timedelta(seconds=40), pid_alive=not_asked)
    assert verdict is Verdict.EXPIRED and found.instance == "first"
    stored = clocklease.holder(engine)
    assert (stored.instance, stored.started_at) == ("second", T0 + timedelta(seconds=40))
    assert not clocklease.renew(engine, instance="first", now=T0 + timedelta(seconds=41))  # lost: it stops its clock
    assert not clocklease.release(engine, instance="first")  # and cannot free what is no longer its own
    assert clocklease.holder(engine).instance == "second"
    assert clocklease.release(engine, instance="second")
    assert clocklease.holder(engine) is None


def test_a_lease_changed_between_judging_and_taking_is_judged_again(database):
    """Two serves on one machine find the same dead holder: one takes it over, the other then sees it held."""
    from models.store import clocklease
    from models.store.db import open_database

    engine = open_database(database)
    clocklease.take(engine, claimant=Claimant("killed", "may-a", 1000), now=T0, pid_alive=not_asked)
    rival = Claimant("rival", "may-a", 3000)
    asked = []

    def rival_first(pid: int) -> bool:
        """Asked about the dead holder while judging: the rival takes the lease over just then."""
        asked.append(pid)
        if pid == 1000 and len(asked) == 1:
            assert clocklease.take(engine, claimant=rival, now=T0 + timedelta(seconds=1), pid_alive=dead)[0] \
                is Verdict.DEAD
        return pid != 1000

    verdict, found = clocklease.take(engine, claimant=ME, now=T0 + timedelta(seconds=2), pid_alive=rival_first)
    assert verdict is Verdict.HELD and found.instance == "rival" and asked == [1000, 3000]
    assert clocklease.holder(engine).instance == "rival"


def test_two_serves_asking_at_the_same_moment_get_one_lease(database):
    from models.store import clocklease
    from models.store.db import open_database

    engine = open_database(database)
    start = threading.Barrier(2)
    verdicts = {}

    def ask(name: str) -> None:
        start.wait()
        verdicts[name] = clocklease.take(engine, claimant=Claimant(name, f"host-{name}", 1), now=T0,
                                         pid_alive=not_asked)[0]

    threads = [threading.Thread(target=ask, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(verdicts.values()) == sorted([Verdict.FREE, Verdict.HELD])
    winner = next(name for name, verdict in verdicts.items() if verdict is Verdict.FREE)
    assert clocklease.holder(engine).instance == winner


# --- real `dondoc serve` processes --------------------------------------------------------------------------------

def start_serve(env, cwd, port: int, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    served = subprocess.Popen([sys.executable, "-m", "dondoc", "serve", "--port", str(port), *extra], env=env,
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(served.stderr), daemon=True).start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # up first: a SIGTERM that lands while Python is still importing kills it
        assert served.poll() is None, lines
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return served, lines
        except httpx.HTTPError:
            time.sleep(0.3)
    served.kill()
    pytest.fail(f"serve did not come up: {lines}")


def wait_for(lines: list[str], prefix: str, served: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while not any(line.startswith(prefix) for line in lines):
        assert served.poll() is None and time.monotonic() < deadline, "\n".join(lines)
        time.sleep(0.2)


def stop(served: subprocess.Popen) -> None:
    served.send_signal(signal.SIGTERM)
    try:
        served.wait(timeout=60)
    finally:
        if served.poll() is None:
            served.kill()


def lease_row(url: str):
    from models.store.clocklease import holder
    from models.store.db import open_database

    return holder(open_database(url))


def refused(env, cwd, port: int, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dondoc", "serve", "--port", str(port), *extra], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_a_second_serve_refuses_the_clock_and_one_killed_is_taken_over_at_once(database, subprocess_env, tmp_path):
    """Two serves with their clocks on one database: the second refuses, naming the first, and starts nothing;
    once the first is killed with -9 the next serve on this machine takes the clock at once, and gives it back
    when stopped."""
    if not database.startswith("sqlite"):
        pytest.skip("the processes behave alike on both backends; the lease's SQL is tested on both above")
    env = {**subprocess_env, "DONDOC_STATE_DIR": str(tmp_path / "state")}
    port = free_port()
    first, first_lines = start_serve(env, tmp_path, port)
    try:
        wait_for(first_lines, "Quét: gửi", first)  # the start-up sweep is done: a kill leaves no flow run behind
        held = lease_row(database)
        assert (held.pid, held.host) == (first.pid, socket.gethostname())

        second = refused(env, tmp_path, free_port())
        assert second.returncode == 2, second.stderr
        lines = second.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Lỗi: đồng hồ quét của cơ sở dữ liệu này đang chạy"), lines
        assert f"máy {socket.gethostname()}, PID {first.pid}, từ " in lines[0]
        assert lines[0].endswith("Để chạy thêm trang phản hồi, dùng `dondoc serve --no-clock`."), lines
        assert lease_row(database) == held  # untouched
    finally:
        first.kill()  # -9
        first.wait(30)

    assert lease_row(database).pid == first.pid  # a killed serve leaves its lease behind
    third, third_lines = start_serve(env, tmp_path, port)
    try:
        taken = lease_row(database)
        assert taken.pid == third.pid and taken.instance != held.instance
        wait_for(third_lines, "Quét: gửi", third)
        assert any(line.startswith("Nhận đồng hồ quét từ một `dondoc serve` đã dừng đột ngột") and f"PID {first.pid}"
                   in line for line in third_lines), third_lines
    finally:
        stop(third)
    assert third.returncode == 0 and "Đã dừng.\n" in third_lines, third_lines
    assert not any("Traceback" in line for line in third_lines), third_lines
    assert lease_row(database) is None  # a clean stop gives the clock back


def test_serve_on_a_busy_port_says_so_in_one_line_and_leaves_nothing_running(database, subprocess_env, tmp_path):
    """A second serve on the first one's port: exit 2, one line naming host:port, the lease it took given back and
    its scheduler never started (APScheduler creates its job table when it starts)."""
    if not database.startswith("sqlite"):
        pytest.skip("the processes behave alike on both backends; the lease's SQL is tested on both above")
    from sqlalchemy import inspect

    from models.store.db import get_engine

    # The session's Prefect server: a serve with none named starts its own, 15-20 s of this test for nothing.
    env = {**subprocess_env, "DONDOC_STATE_DIR": str(tmp_path / "state")}
    port = free_port()
    first, first_lines = start_serve(env, tmp_path, port, "--no-clock")
    try:
        assert lease_row(database) is None  # `--no-clock` never takes the lease
        # its own state dir: one serve per state dir is the endpoint's refusal (tests/test_endpoint.py)
        second = refused({**env, "DONDOC_STATE_DIR": str(tmp_path / "other-state")}, tmp_path, port)
    finally:
        stop(first)
    assert second.returncode == 2, second.stderr
    assert second.stderr.splitlines() == [f"Lỗi: cổng 127.0.0.1:{port} đang bận, có thể một `dondoc serve` khác đang "
                                          "chạy ở đó: dừng nó hoặc chọn cổng khác bằng --port."]
    assert lease_row(database) is None
    assert "apscheduler_jobs" not in inspect(get_engine(database)).get_table_names()
    assert first.returncode == 0, first_lines


def test_a_serve_whose_lease_was_taken_over_stops_its_clock(database, capsys):
    """It stalled past its lease and another serve took the clock: at its next renewal it shuts its scheduler down,
    says so, and on stopping leaves the other's lease alone."""
    if not database.startswith("sqlite"):
        pytest.skip("the renewal's SQL is tested on both backends above")
    from apscheduler.schedulers.background import BackgroundScheduler

    from dondoc.clocklease import Held
    from models.store import clocklease
    from models.store.db import open_database
    from models.settings import get_settings
    from models.calendar.timerules import wall_clock

    settings, engine = get_settings(), open_database(database)
    me = Claimant(instance="me", host=socket.gethostname(), pid=os.getpid())
    assert clocklease.take(engine, claimant=me, now=wall_clock(settings.tz), pid_alive=not_asked)[0] is Verdict.FREE
    scheduler = BackgroundScheduler()
    scheduler.start()
    held = Held(settings, engine, me, scheduler, every=0.05)
    later = wall_clock(settings.tz) + timedelta(seconds=LEASE_SECONDS + 60)  # as another machine sees it, much later
    other = Claimant(instance="other", host="may-b", pid=7)
    assert clocklease.take(engine, claimant=other, now=later, pid_alive=not_asked)[0] is Verdict.EXPIRED
    held.thread.join(60)
    assert held.lost and not scheduler.running
    held.release()
    assert lease_row(database).instance == "other"
    err = capsys.readouterr().err
    assert "Đồng hồ quét đã dừng: một `dondoc serve` khác (máy may-b, PID 7, từ " in err
    assert err.rstrip().endswith("trang phản hồi vẫn chạy."), err
