"""Dispatchers side by side: three real `dondoc sweep` processes over the same outbox send each message once.

PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite with one UPDATE … RETURNING
under its single writer lock. Checked by counting Message-IDs at a real aiosmtpd.

What goes wrong is two claims at once, so the test needs many claims racing, not many messages: 2,150 due
rows in batches of 10 are 215 claims. With the claim's guard taken out (PostgreSQL without SKIP LOCKED, SQLite
selecting then updating in two statements) it failed 6 runs out of 6; 10,000 rows in batches of 250 (40 claims)
missed the missing SKIP LOCKED in 2 runs out of 2.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import func, select

from dondoc.testing import plan_due_rows, write_directives
from models.store.db import transaction
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.store.tables import Notification
from models.calendar.timerules import TimeRules

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PER_ASSIGNMENT, BATCH = 20, "10"  # 2,000 reminders, the 100 notices, 50 late rungs: 215 claims for three sweeps


def test_three_sweeps_at_once_send_every_message_exactly_once(database, smtp, subprocess_env, tmp_path):
    path = write_directives(tmp_path / "directives", 1, 100)[0]
    launch_at = datetime(2021, 3, 1, 9, tzinfo=TZ)
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(path), now=launch_at, rules=TimeRules(), actor="t")
    plan_due_rows("1-b-stttt", PER_ASSIGNMENT, launch_at)
    with transaction() as session:  # the extra reminders, the 100 notices, and rungs the late launch made due
        planned = session.exec(select(func.count()).select_from(Notification).where(Notification.due_at <= launch_at)).one()
    assert planned >= 100 * PER_ASSIGNMENT + 100
    env = {**subprocess_env, "DONDOC_BATCH_SIZE": BATCH}
    sweeps = [subprocess.Popen([sys.executable, "-m", "dondoc", "sweep", "--now", "2021-03-01T09:05+07:00", "--json"],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    outcomes = [p.communicate(timeout=600) for p in sweeps]
    assert [p.returncode for p in sweeps] == [0, 0, 0], [err for _, err in outcomes]
    arrivals = Counter(smtp.controller.handler.arrivals)
    with transaction() as session:
        assert session.exec(select(func.count()).select_from(Notification).where(Notification.state == "sent")).one() == planned
        recorded = session.exec(select(Notification.recipients).where(Notification.state == "sent")).all()
    expected = [envelope["message_id"] for r in recorded for envelope in r["envelopes"]]
    assert len(expected) > planned  # the notices go to the lead and, as a copy, to the supporting agency
    assert sum(arrivals.values()) == len(expected) and set(arrivals) == set(expected)  # each Message-ID once
    sent_by_each = [int(__import__("json").loads(out)["sent"]) for out, _ in outcomes]
    assert sum(sent_by_each) == planned and sum(1 for n in sent_by_each if n > 0) >= 2  # they really shared the work
