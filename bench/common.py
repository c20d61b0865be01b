"""Shared pieces of the benchmarks: synthetic directives, a Prefect server, a mailbox process, timing."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from dondoc.mailbox import free_port, wait_for_port
from dondoc.testing import LEADS, write_directives  # noqa: F401  (re-exported for the benches)

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "directives" / "agencies" / "long-an.yaml"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def prefect_server(home: Path | None = None, database_url: str | None = None) -> Iterator[str]:
    """A real `prefect server start` in a subprocess; yields its API URL."""
    home = home or Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"}  # its UI must call this server, not :4200
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    env.pop("PREFECT_API_URL", None)
    prefect = str(Path(sys.executable).parent / "prefect")
    log = open(home / "server.log", "w")
    process = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health")
        yield f"http://127.0.0.1:{port}/api"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextlib.contextmanager
def mailbox_process(maildir: Path) -> Iterator[int]:
    """`dondoc mailbox` in its own process, so the sender and the server do not share a GIL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "dondoc", "mailbox", "--port", str(port), "--maildir", str(maildir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def fresh_database(postgres: str | None, prefix: str) -> Iterator[str]:
    """A new, empty dondoc database URL: a database on the PostgreSQL server ``postgres`` (dropped afterwards),
    or a SQLite file in a temporary folder."""
    if not postgres:
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix=f'bench-{prefix}-')) / 'dondoc.db'}"
        return
    import uuid

    import psycopg

    from models.store.db import get_engine

    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    admin = postgres.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres}/{name}"
    finally:
        get_engine(f"{postgres}/{name}").dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def at(y: int, m: int, d: int, h: int = 8, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=TZ)


def report(name: str, figures: dict) -> None:
    """Print the figures as one JSON line (for the README table) and as text."""
    print(json.dumps({"bench": name, **figures}, ensure_ascii=False))


@contextlib.contextmanager
def sink() -> Iterator[tuple[int, dict]]:
    """bench/sink.py in its own process: an SMTP server that accepts every message and discards it. Yields its
    port and a dict that holds, once the block ends, what it counted."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port", str(port)], stdout=subprocess.PIPE,
                               text=True, cwd=ROOT)
    wait_for_port(port)
    counts: dict = {}
    try:
        yield port, counts
    finally:
        process.terminate()
        counts.update(json.loads(process.communicate(timeout=60)[0]))
