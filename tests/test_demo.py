"""`make demo` as a coordinator runs it: no PREFECT_API_URL, so dondoc starts a temporary Prefect server
(flows/tempserver.py). Each test runs the real command in a subprocess, with its own PREFECT_HOME."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUSY_LOOPS = 2  # this machine's two cores, both taken


def command_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL" and not k.startswith("DONDOC_")}
    return {**env, "PREFECT_HOME": str(home), **extra}


def servers_of(home: Path) -> list[int]:
    """Processes (a temporary server) still running with this PREFECT_HOME."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"PREFECT_HOME={home}".encode() in environ and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def busy_demo(tmp_path_factory):
    """`dondoc demo` on a fresh PREFECT_HOME while busy loops keep every core of this 2-core machine busy."""
    base = tmp_path_factory.mktemp("busy-demo")
    home = base / "prefect"
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BUSY_LOOPS)]
    try:
        demo = subprocess.run([sys.executable, "-m", "dondoc", "demo", "--output", str(base / "demo")],
                              env=command_env(home), cwd=base, capture_output=True, text=True, timeout=280)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    return demo, base / "demo", home


def test_the_demo_passes_while_every_core_is_busy_and_leaves_its_runs_for_the_ui(busy_demo):
    demo, output, home = busy_demo
    assert demo.returncode == 0, demo.stderr
    assert "Traceback" not in demo.stderr and "Timed out" not in demo.stderr
    assert "Dòng thời gian — 2550/STTTT-BCTT" in demo.stdout
    assert "industrial-park-access: đã hủy" in demo.stdout and "permit-review · hoàn thành" in demo.stdout
    summary, process = [line for line in demo.stdout.splitlines() if line.startswith("Tổng số thư:")]
    assert "đề nghị gia hạn 1" in summary and "báo cáo Văn phòng UBND tỉnh" in summary  # Vietnamese, capitals kept
    assert "extension-" not in summary
    delivered = len(list((output / "maildir" / "new").iterdir()))
    assert delivered > 20 and f"Thư đã gửi ({delivered}):" in demo.stdout and f"(cộng {delivered})" in summary
    # The second campaign, a process: steps, review with a return, a silent lead, a refusal and a reassignment.
    assert "Dòng thời gian — 45/KH-UBND" in demo.stdout
    for said in ("planning-update · từ chối: không thuộc chức năng, nhiệm vụ", "planning-update · giao lại",
                 "bts-sharing · trả lại, yêu cầu bổ sung", "summary · xác nhận hoàn thành",
                 "bts-sharing · báo cáo hoàn thành, chờ xác nhận"):
        assert said in demo.stdout, said
    for rung in ("đề nghị xác nhận tiếp nhận", "thông báo đơn vị từ chối nhiệm vụ", "thông báo trả lại, yêu cầu bổ sung",
                 "thông báo xác nhận hoàn thành", "đề nghị xác nhận kết quả"):
        assert rung in process, rung
    second = output / "45-KH-UBND"
    with sqlite3.connect(second / "dondoc.db") as db:
        assert db.execute("SELECT count(*) FROM notification WHERE state = 'failed'").fetchone()[0] == 0
        silent = db.execute("SELECT n.payload FROM notification n WHERE n.rung = 'unacknowledged' AND n.state = 'sent'"
                            ).fetchall()
    assert any('"bqlkkt"' in payload for (payload,) in silent)  # BQL KKT never answered: asked once
    with sqlite3.connect(second / "dondoc.db") as db:  # the operators' monthly reports, one row per period
        periods = db.execute("SELECT key, status, done_on, due FROM assignment WHERE series_id IS NOT NULL").fetchall()
        late = db.execute("SELECT count(*) FROM notification n JOIN assignment a ON a.id = n.assignment_id "
                          "WHERE a.key = 'mobifone-monthly/2021-03' AND n.rung = 'report-up' AND n.state = 'sent'"
                          ).fetchone()[0]
    by_key = {key: (status, done_on, due) for key, status, done_on, due in periods}
    assert {k for k in by_key if k.startswith("viettel")} == {f"viettel-monthly/2021-0{m}" for m in range(1, 6)}
    assert all(by_key[f"viettel-monthly/2021-0{m}"][0] == "done" and by_key[f"viettel-monthly/2021-0{m}"][1]
               <= by_key[f"viettel-monthly/2021-0{m}"][2] for m in range(1, 5))  # every month, on time
    assert [m for m in range(1, 5) if by_key[f"vnpt-monthly/2021-0{m}"][1] > by_key[f"vnpt-monthly/2021-0{m}"][2]] == [2]
    assert by_key["mobifone-monthly/2021-03"][0] == "assigned" and by_key["mobifone-monthly/2021-04"][0] == "done"
    assert late > 3  # the missed March is still chased up the ladder while April is reported
    process_svg = (second / "timeline.svg").read_text(encoding="utf-8")
    assert "summary" in process_svg
    # Each operator's monthly report is one row, with a mark per period (issue 13).
    assert process_svg.count('<g class="recurring">') == 3 and "viettel-monthly ↻" in process_svg
    assert "viettel-monthly/" not in process_svg and 'data-period="2021-03"' in process_svg
    svg = (output / "timeline.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "industrial-park-access" in svg and "kết thúc" in svg
    assert "G = giao nhiệm vụ" in svg and "= notice" not in svg  # a Vietnamese legend
    # The temporary server is gone, and it was not a dead end: the campaign's run and status artifact are in
    # PREFECT_HOME's database, which `make ui` and `dondoc serve` show; the last line says where to look.
    assert servers_of(home) == []
    assert f"Prefect UI: chạy `make ui` (hoặc `dondoc serve`) rồi mở http://127.0.0.1:4200/runs; các lần chạy " \
           f"được lưu trong {home}" in demo.stdout
    with sqlite3.connect(home / "prefect.db") as db:
        runs = db.execute("SELECT name, state_type FROM flow_run").fetchall()
        artifacts = {key for (key,) in db.execute("SELECT key FROM artifact")}
        sweeps = db.execute("SELECT count(*) FROM task_run WHERE name LIKE 'sweep · %'").fetchone()[0]
    assert sorted(runs) == [("simulate · 2550/STTTT-BCTT", "COMPLETED"), ("simulate · 45/KH-UBND", "COMPLETED")]
    assert "directive-2550-stttt-bctt" in artifacts and sweeps > 40  # one task run per simulated working day


def test_a_server_too_slow_to_start_is_stopped_tried_once_more_then_refused_in_one_line(tmp_path):
    """A start-up limit no server can meet: both attempts really start a server and really give up on it."""
    home = tmp_path / "prefect"
    env = command_env(home, DONDOC_PREFECT_STARTUP_SECONDS="0.01",
                      DONDOC_DATABASE_URL=f"sqlite:///{tmp_path / 'dondoc.db'}")
    done = subprocess.run([sys.executable, "-m", "dondoc", "sweep", "--now", "2021-01-04T08:00+07:00"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "Máy chủ Prefect tạm thời chưa sẵn sàng: máy chủ chưa trả lời sau 0,01 giây; đang thử lại.",
        f"Lỗi: máy chủ Prefect tạm thời không khởi động được sau 2 lần thử: máy chủ chưa trả lời sau 0,01 giây "
        f"(nhật ký: {home / 'temporary-server.log'}). Hãy chạy `dondoc serve` ở một cửa sổ khác rồi thử lại, hoặc "
        "đặt PREFECT_API_URL trỏ tới một máy chủ Prefect đang chạy, hoặc tăng DONDOC_PREFECT_STARTUP_SECONDS.",
    ], done.stderr
    assert servers_of(home) == []


def test_a_start_that_fails_is_retried_on_a_free_port_and_the_flows_use_that_server(busy_demo):
    """The first attempt's port is taken by a real listening socket: that server exits, the retry answers.

    It reuses the demo's PREFECT_HOME, whose database is already created, so that each attempt costs its
    start-up and not Prefect's migrations as well.
    """
    _, _, home = busy_demo
    script = textwrap.dedent("""
        import os, socket, sys
        from flows.tempserver import ensure_api
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        url = ensure_api(120, port=taken.getsockname()[1], on_retry=lambda reason: print("retry:", reason))
        print("taken:", taken.getsockname()[1])
        print("url:", url)
        print("PREFECT_API_URL:", os.environ["PREFECT_API_URL"])
        from prefect import flow, get_client

        @flow(name="hello")
        def hello():
            return 1

        state = hello(return_state=True)
        with get_client(sync_client=True) as client:
            print("run on it:", client.read_flow_run(state.state_details.flow_run_id).state_type.value)
        print("prefect's own temporary server:", "prefect.server.api.server" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], env=command_env(home), cwd=ROOT, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    out = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert out["retry"].startswith("tiến trình máy chủ đã dừng khi khởi động, mã thoát ")  # address already in use
    assert out["url"].startswith("http://127.0.0.1:") and f":{out['taken']}/" not in out["url"]
    assert out["PREFECT_API_URL"] == out["url"] and out["run on it"] == "COMPLETED"
    assert out["prefect's own temporary server"] == "False"  # no client fell back to Prefect's own
    assert servers_of(home) == []
