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
