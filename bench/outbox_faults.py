"""The outbox under faults: copies of one message over ten crashes in a row, and a sweep's time against a tarpit.

    .venv/bin/python bench/outbox_faults.py [--crashes 10] [--postgres URL] [--skip-crashes] [--skip-tarpit]

Both parts run real `dondoc sweep` processes against a real `prefect server start`
and an aiosmtpd that counts every message by Message-ID (dondoc/mailbox.py).

Crash loop: 505 due rows (about 600 messages), a server taking 0.1 s a
message; each sweep is killed with SIGKILL 1.5 s after its first message
arrives, and the next starts at once with a later --now. The lease is 2 s
(DONDOC_CLAIM_LEASE_SECONDS), so each sweep takes back what the last one left
unrecorded: the worst case for copies. A last sweep finishes the work.
Printed: the most copies of one Message-ID, the rows each crash recorded,
and that every message arrived.

Tarpit: 505 due rows; the server accepts the connection and the envelope,
then never answers DATA ("tarpit"), or answers every command after 20 s,
under the 30 s timeout ("drip"). Default settings (DONDOC_SMTP_TIMEOUT=30,
four connections, batches of 500). Printed: the sweep's wall time, the
messages the server saw begun, and the rows left to retry.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TZ, fresh_database, prefect_server, report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "directives" / "2550-STTTT-BCTT.yaml"
LAUNCH = datetime(2020, 11, 30, 9, tzinfo=TZ)


def _prepare(url: str) -> None:
    from dondoc.testing import plan_due_rows
    from models.store.db import transaction
    from models.lifecycle.launch import launch_directive
    from models.definition.loader import load_directive_file
    from models.calendar.timerules import TimeRules

    os.environ["DONDOC_DATABASE_URL"] = url
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=LAUNCH, rules=TimeRules(), actor="bench")
    plan_due_rows("2550-stttt-bctt", 100, LAUNCH)  # 505 rows due


def _state(url: str) -> tuple[Counter, list[str]]:
    """Rows by state, and the Message-ID of every message the rows marked sent say went out."""
    from sqlmodel import select

    from models.store.db import transaction
    from models.store.tables import Notification

    with transaction() as session:
        rows = session.exec(select(Notification.state, Notification.recipients)
                            .where(Notification.due_at <= LAUNCH)).all()
    states = Counter(state for state, _ in rows)
    sent = [e["message_id"] for state, r in rows if state == "sent" for e in r["envelopes"]]
    return states, sent


def _sweep(env: dict, now: datetime, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dondoc", "sweep", "--now", now.isoformat(), "--json"], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def crash_loop(api: str, postgres: str | None, crashes: int) -> dict:
    from dondoc.mailbox import Faults, start_mailbox

    with fresh_database(postgres, "crash") as url:
        _prepare(url)
        faults = Faults(delay=0.1)
        controller = start_mailbox(Path(tempfile.mkdtemp(prefix="bench-crash-")) / "maildir", faults=faults)
        arrivals = controller.handler.arrivals
        env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
               "DONDOC_DATABASE_URL": url, "DONDOC_SMTP_HOST": controller.hostname,
               "DONDOC_SMTP_PORT": str(controller.port), "DONDOC_CLAIM_LEASE_SECONDS": "2"}
        progress = []
        try:
            for crash in range(crashes):
                before, recorded = len(arrivals), len(_state(url)[1])
                sweep = _sweep(env, LAUNCH + timedelta(minutes=5 + crash))
                while len(arrivals) == before:
                    if sweep.poll() is not None:
                        sys.exit(f"the sweep ended before it was killed: {sweep.communicate()}")
                    time.sleep(0.01)
                time.sleep(1.5)
                sweep.send_signal(signal.SIGKILL)
                sweep.communicate(timeout=30)
                progress.append({"sent_before_kill": len(arrivals) - before,
                                 "messages_recorded": len(_state(url)[1]) - recorded})
            faults.delay = 0
            time.sleep(2.5)  # the last crash's lease lapses
            last = _sweep(env, LAUNCH + timedelta(minutes=30))
            out, err = last.communicate(timeout=600)
            if last.returncode != 0:
                sys.exit(err)
            states, sent = _state(url)
        finally:
            controller.stop()
        copies = Counter(arrivals)
        return {"backend": "postgresql" if postgres else "sqlite", "crashes": crashes,
                "worst_copies_of_one_message": max(copies.values()),
                "messages_arriving_twice": sum(1 for n in copies.values() if n == 2),
                "crashes_that_recorded_progress": sum(1 for p in progress if p["messages_recorded"] > 0),
                "recorded_per_crash": [p["messages_recorded"] for p in progress],
                "sent_per_crash": [p["sent_before_kill"] for p in progress],
                "rows": dict(states), "every_message_arrived": set(copies) == set(sent),
                "arrivals": len(arrivals), "distinct": len(copies)}


def tarpit(api: str, postgres: str | None, kind: str) -> dict:
    from dondoc.mailbox import Faults, start_mailbox

    with fresh_database(postgres, "tarpit") as url:
        _prepare(url)
        faults = Faults(delay=3600) if kind == "tarpit" else Faults(slow=20)
        controller = start_mailbox(Path(tempfile.mkdtemp(prefix="bench-tarpit-")) / "maildir", faults=faults)
        env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
               "DONDOC_DATABASE_URL": url, "DONDOC_SMTP_HOST": controller.hostname,
               "DONDOC_SMTP_PORT": str(controller.port)}
        for name in ("DONDOC_SMTP_TIMEOUT", "DONDOC_SMTP_CONNECTIONS", "DONDOC_BATCH_SIZE"):
            env.pop(name, None)  # the defaults: 30 s, 4, 500
        try:
            started = time.perf_counter()
            sweep = _sweep(env, LAUNCH + timedelta(minutes=5))
            out, err = sweep.communicate(timeout=3 * 3600)
            seconds = time.perf_counter() - started
            if sweep.returncode != 0:
                sys.exit(err)
            states, _ = _state(url)
            attempts = controller.handler.attempts
        finally:
            controller.stop()
        result = json.loads(out)
        return {"backend": "postgresql" if postgres else "sqlite", "server": kind, "due_rows": sum(states.values()),
                "sweep_seconds": round(seconds, 1), "messages_begun_at_server": attempts,
                "rows": dict(states), "batches": result["batches"], "retrying": result["retrying"],
                "given_up_because": result["smtp_unavailable"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crashes", type=int, default=10)
    parser.add_argument("--postgres", help="a PostgreSQL server URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--skip-crashes", action="store_true")
    parser.add_argument("--skip-tarpit", action="store_true")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("DONDOC_")]:
        del os.environ[name]  # the developer's own settings must not steer the figures
    with prefect_server() as api:
        if not args.skip_crashes:
            report("outbox_crash_loop", crash_loop(api, args.postgres, args.crashes))
        if not args.skip_tarpit:
            for kind in ("tarpit", "drip"):
                report("outbox_tarpit", tarpit(api, args.postgres, kind))


if __name__ == "__main__":
    main()
