"""The scaled install of docs/scaling.md, brought up by scripts/scaled.sh, driven through a campaign.

A Prefect server on PostgreSQL, a process work pool with two workers, the
deployments of prefect.yaml and dondoc on PostgreSQL. The coordinator's actions
are `prefect deployment run … --watch`, exactly as the docs give them; each flow
run is a process that a worker starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlmodel import create_engine, select, Session

from dondoc.mailbox import free_port
from models.tables import Assignment, Directive, Notification
from tests.conftest import POSTGRES, ROOT, SEED

SCRIPT = ROOT / "scripts" / "scaled.sh"
PREFECT = Path(sys.executable).parent / "prefect"
SLUG = "2550-stttt-bctt"


@pytest.fixture
def scaled(postgres_server, smtp, tmp_path):
    """scripts/scaled.sh up, with its own databases and port; down and dropped afterwards."""
    server = POSTGRES.replace("+psycopg", "")
    suffix = uuid.uuid4().hex[:8]
    prefect_db, dondoc_db = f"scaled_prefect_{suffix}", f"scaled_dondoc_{suffix}"
    port = free_port()
    env = {**os.environ, "BIN": str(PREFECT.parent), "PG": server, "PREFECT_DB": prefect_db, "DONDOC_DB": dondoc_db, "PREFECT_PORT": str(port),
           "SCALED_STATE": str(tmp_path / "scaled"), "DONDOC_STATE_DIR": str(tmp_path / "state"),
           # The campaign runs on 2020's dates: a sweep scheduled on today's clock would send all of it at once.
           "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    up = subprocess.run(["bash", str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        yield {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_HOME": str(tmp_path / "scaled" / "prefect-home"),
               "DONDOC_DATABASE_URL": f"{POSTGRES}/{dondoc_db}"}
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True, timeout=120)
        with psycopg.connect(server + "/postgres", autocommit=True) as conn:
            for name in (prefect_db, dondoc_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_deployment(env: dict, name: str, **parameters) -> subprocess.CompletedProcess:
    args = [str(PREFECT), "deployment", "run", name, "--watch", "--watch-interval", "1", "--watch-timeout", "240"]
    for key, value in parameters.items():
        args += ["--param", f"{key}={value}"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Completed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def test_a_campaign_through_the_prefect_server_and_two_workers_on_postgresql(scaled, smtp):
    run_deployment(scaled, "launch-directive/Khởi tạo văn bản", path=str(SEED), now="2020-11-30T09:00:00+07:00")

    # Two sweeps at once, on the two workers: every notice goes out exactly once.
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: run_deployment(scaled, "escalation-sweep/Quét theo lịch", now="2020-11-30T09:05:00+07:00"),
                      range(2)))
    notices = [m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "notice"]
    # One message per lead agency, plus one copy where there are supporting agencies.
    assert Counter(str(m["X-Dondoc-Assignment"]) for m in notices) == {
        "network-transition": 2, "permit-review": 2, "land-use-conversion": 1, "industrial-park-access": 3,
        "annual-plan": 2}

    run_deployment(scaled, "record-update/Ghi nhận báo cáo", slug=SLUG, key="annual-plan", status="done",
                   evidence="01/KH-STTTT", evidence_on="2021-01-28", now="2021-01-28T10:00:00+07:00")
    run_deployment(scaled, "escalation-sweep/Quét theo lịch", now="2021-01-28T10:05:00+07:00")

    ids = Counter(str(m["Message-ID"]) for m in smtp.messages())
    assert ids and max(ids.values()) == 1
    assert "closed" in {str(m["X-Dondoc-Rung"]) for m in smtp.messages()}
    engine = create_engine(scaled["DONDOC_DATABASE_URL"])
    try:
        with Session(engine) as session:
            directive = session.exec(select(Directive).where(Directive.slug == SLUG)).one()
            assert directive.status == "closed"
            states = {a.key: a.status for a in session.exec(select(Assignment)).all()}
            assert states["annual-plan"] == "done" and states["permit-review"] == "cancelled"
            pending = session.exec(select(Notification).where(Notification.state.in_(["pending", "sending"]))).all()
            assert pending == []
    finally:
        engine.dispose()

    # Every deployment run went through the pool's workers, and none failed.
    runs = httpx.post(f"{scaled['PREFECT_API_URL']}/flow_runs/filter", json={"limit": 200}, timeout=30).json()
    deployed = [r for r in runs if r["deployment_id"]]
    assert len(deployed) == 5 and {r["work_pool_name"] for r in deployed} == {"dondoc"}
    assert {r["state_type"] for r in runs} == {"COMPLETED"}
