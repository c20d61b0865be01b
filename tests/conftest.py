"""Shared fixtures. Prefect runs against one real test server for the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Prefect reads these at import time: set them before anything imports it.
_PREFECT_HOME = tempfile.mkdtemp(prefix="dondoc-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
os.environ.pop("PREFECT_API_URL", None)
for name in list(os.environ):  # the developer's own settings must not leak into tests; DONDOC_TEST_* steer them
    if name.startswith("DONDOC_") and not name.startswith("DONDOC_TEST_"):
        del os.environ[name]

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "directives" / "2550-STTTT-BCTT.yaml"
REGISTRY = ROOT / "directives" / "agencies" / "long-an.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


POSTGRES = os.environ.get("DONDOC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _postgres_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES.replace("+psycopg", "") + "/postgres", connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL at {POSTGRES} ({str(exc).strip().splitlines()[0]})"


@pytest.fixture(scope="session")
def postgres_server():
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    return POSTGRES


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, monkeypatch) -> str:
    """A fresh project database, SQLite or PostgreSQL, configured through DONDOC_DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dondoc.db'}"
        monkeypatch.setenv("DONDOC_DATABASE_URL", url)
        yield url
        return
    import uuid

    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"dondoc_test_{uuid.uuid4().hex[:12]}"
    admin = server.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    monkeypatch.setenv("DONDOC_DATABASE_URL", url)
    yield url
    from models.store.db import get_engine

    get_engine(url).dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def prefect_server():
    """One real Prefect test server for the session (it takes ~16 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A copy of directives/ that a test may edit."""
    target = tmp_path / "directives"
    shutil.copytree(ROOT / "directives", target)
    return target


@pytest.fixture
def smtp(tmp_path, monkeypatch):
    """A real aiosmtpd server keeping mail in a Maildir; DONDOC_SMTP_* point at it."""
    from dondoc.mailbox import Faults, read_messages, start_mailbox

    faults = Faults()
    maildir = tmp_path / "maildir"
    controller = start_mailbox(maildir, faults=faults)
    monkeypatch.setenv("DONDOC_SMTP_HOST", controller.hostname)
    monkeypatch.setenv("DONDOC_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("DONDOC_SMTP_TIMEOUT", "5")

    class Server:
        def __init__(self):
            self.controller, self.faults, self.maildir = controller, faults, maildir
            self.running = True

        def messages(self):
            return read_messages(maildir)

        def stop(self):
            self.controller.stop()
            self.running = False

        def start(self):
            """A stopped aiosmtpd controller cannot restart: start a new one on the same port."""
            self.controller = start_mailbox(maildir, port=controller.port, faults=faults)
            self.running = True

    server = Server()
    yield server
    if server.running:
        server.controller.stop()


@pytest.fixture
def subprocess_env(prefect_server) -> dict:
    """The environment for a `dondoc` child process: this test's settings and the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}

