"""The scaled install of docs/scaling.md, brought up by scripts/scaled.sh, driven through a campaign.

A Prefect server on PostgreSQL, a process work pool with two workers, the
deployments of prefect.yaml and dondoc on PostgreSQL. The coordinator's actions
are `prefect deployment run … --watch`, exactly as the docs give them; each flow
run is a process that a worker starts. The API refuses whoever lacks its
credential, which scaled.sh generates and keeps out of sight.
"""

from __future__ import annotations

import json
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
from models.store.tables import Assignment, Directive, Event, Notification
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
           "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
           # So the workers let the forms' `now` through: a rehearsal install's setting (tests/test_console.py: refused by default).
           "DONDOC_DEPLOYMENTS_ALLOW_NOW": "true"}
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING"):
        env.pop(name, None)
    up = subprocess.run(["bash", str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        credential = tmp_path / "scaled" / "prefect-auth"
        assert credential.stat().st_mode & 0o777 == 0o600
        secret = credential.read_text(encoding="utf-8").strip()
        assert len(secret) > 40 and secret not in up.stdout + up.stderr
        yield {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_HOME": str(tmp_path / "scaled" / "prefect-home"),
               "DONDOC_DATABASE_URL": f"{POSTGRES}/{dondoc_db}", "PREFECT_API_AUTH_STRING": secret,
               "SCALED_STATE": str(tmp_path / "scaled")}
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


def refused_without_the_credential(env: dict) -> None:
    """No credential, or a wrong one: the API answers 401 and the CLI runs nothing; only the health probe is open."""
    api = env["PREFECT_API_URL"]
    assert httpx.get(f"{api}/health", timeout=10).status_code == 200  # Prefect leaves GET /health open for probes
    for auth in (None, ("dondoc", "wrong"), ("dondoc", env["PREFECT_API_AUTH_STRING"].partition(":")[2] + "x")):
        assert httpx.post(f"{api}/flow_runs/filter", json={}, auth=auth, timeout=10).status_code == 401
        assert httpx.post(f"{api}/deployments/filter", json={}, auth=auth, timeout=10).status_code == 401
    wrong = {**env, "PREFECT_API_AUTH_STRING": "dondoc:wrong"}
    done = subprocess.run([str(PREFECT), "deployment", "run", "record-update/Ghi nhận báo cáo", "--param", f"slug={SLUG}",
                           "--param", "key=annual-plan", "--param", "status=done"],
                          env=wrong, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "401" in done.stdout + done.stderr
    assert authorized(env, "flow_runs/filter") == []


def authorized(env: dict, path: str, body: dict | None = None):
    user, _, password = env["PREFECT_API_AUTH_STRING"].partition(":")
    answer = httpx.post(f"{env['PREFECT_API_URL']}/{path}", json=body or {"limit": 200}, auth=(user, password), timeout=30)
    answer.raise_for_status()
    return answer.json()


def secret_kept(env: dict) -> None:
    """The credential is on no process's command line, in no log of the install, in nothing Prefect stores."""
    secret, state = env["PREFECT_API_AUTH_STRING"], Path(env["SCALED_STATE"])
    for pidfile in state.glob("*.pid"):
        cmdline = Path(f"/proc/{pidfile.read_text().strip()}/cmdline")
        assert secret not in cmdline.read_text(errors="replace")
    for log in state.glob("*.log"):
        assert secret not in log.read_text(errors="replace")
    stored = [authorized(env, path) for path in ("flow_runs/filter", "deployments/filter", "logs/filter", "artifacts/filter",
                                                   "work_pools/filter", "variables/filter", "block_documents/filter")]
    assert secret not in json.dumps(stored) and secret.partition(":")[2] not in json.dumps(stored)


def test_a_campaign_through_the_prefect_server_and_two_workers_on_postgresql(scaled, smtp):
    refused_without_the_credential(scaled)
    # As docs/scaling.md types it: a file of the checkout's directives/ folder, which the form may not leave.
    run_deployment(scaled, "launch-directive/Khởi tạo văn bản", path=f"directives/{SEED.name}", now="2020-11-30T09:00:00+07:00")

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
            assert {e.actor for e in session.exec(select(Event)).all()} == {"coordinator"}  # no form names the actor
    finally:
        engine.dispose()

    # Every deployment run went through the pool's workers, and none failed.
    runs = authorized(scaled, "flow_runs/filter")
    deployed = [r for r in runs if r["deployment_id"]]
    assert len(deployed) == 5 and {r["work_pool_name"] for r in deployed} == {"dondoc"}
    assert {r["state_type"] for r in runs} == {"COMPLETED"}
    secret_kept(scaled)
