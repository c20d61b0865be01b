"""dondoc.assignment.* events in a real Prefect server, and an automation on them that calls a local webhook.

Heavy: it uses the session's Prefect server (whose triggers and actions services run, as in any Prefect server)
and a real SMTP server; about 15 s on top of the server's start.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"


class Receiver:
    """A webhook receiver on 127.0.0.1: keeps each request's body."""

    def __init__(self):
        self.bodies: list[str] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                self.send_response(200)
                self.end_headers()
                with receiver.arrived:
                    receiver.bodies.append(body)
                    receiver.arrived.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> list[str]:
        """The bodies once ``count`` have arrived, or what arrived by ``timeout`` (seconds)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.bodies) < count and time.monotonic() < deadline:
                self.arrived.wait(deadline - time.monotonic())
            return list(self.bodies)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def create_escalation_automation(webhook_url: str, name: str) -> uuid.UUID:
    """The automation of docs/prefect-ui.md: on dondoc.assignment.escalated, call a webhook with the assignment."""
    from prefect.automations import Automation
    from prefect.blocks.webhook import Webhook
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import EventTrigger, Posture

    webhook = Webhook(url=webhook_url, method="POST")
    block_id = webhook.save(name, overwrite=True)
    automation = Automation(
        name=name,
        description="Gọi webhook khi một nhiệm vụ bị đôn đốc lên thủ trưởng cơ quan chủ trì",
        trigger=EventTrigger(
            expect={"dondoc.assignment.escalated"},
            match={"prefect.resource.id": "dondoc.assignment.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[CallWebhook(
            block_document_id=block_id,
            payload=('{"event": "{{ event.event }}", "assignment": "{{ event.resource.id }}", '
                     '"due": "{{ event.payload.due }}", "days_late": {{ event.payload.days_late }}}'),
        )],
    ).create()
    return automation.id


def read_events(prefix: str, since: datetime, count: int, received_after: datetime, timeout: float = 30) -> list:
    """The events stored under ``prefix`` that this test sent, once there are ``count`` (the server writes them in
    batches), or by ``timeout``.

    The session's Prefect server also holds the events of every test before this one, about the same seed
    directive and on the same dates: only those received after ``received_after`` are this test's. Every page
    is read (the server answers 50 at a time).
    """
    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    body = {"filter": EventFilter(occurred=EventOccurredFilter(since=since, until=since + timedelta(days=60)),
                                  event=EventNameFilter(prefix=[prefix])).model_dump(mode="json"), "limit": 50}
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            response = client.request("POST", "/events/filter", json=body)
            response.raise_for_status()
            page = response.json()
            events = list(page["events"])
            while page.get("next_page"):
                page = client._client.get(page["next_page"]).raise_for_status().json()
                events += page["events"]
            mine = [e for e in events if datetime.fromisoformat(e["received"]) >= received_after]
            if len(mine) >= count or time.monotonic() > deadline:
                return mine
            time.sleep(0.5)


@pytest.mark.prefect  # heavy: a real Prefect server (the session's), SMTP and a webhook receiver
def test_an_escalation_fires_an_automation_that_calls_a_webhook(tmp_path, monkeypatch, prefect_server, smtp, receiver):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'dondoc.db'}")
    from flows.launch import launch_directive
    from flows.sweep import escalation_sweep
    from models.store.db import transaction
    from models.store.tables import Outlet

    started = datetime.now(timezone.utc)  # the wall clock: when Prefect received this test's events, not their dates
    automation_id = create_escalation_automation(receiver.url, f"dondoc-escalated-{uuid.uuid4().hex[:8]}")

    launched = datetime(2020, 11, 30, 9, tzinfo=TZ)
    launch_directive(path=str(SEED), now=launched)  # its flow publishes the five `assigned` events at once
    first = escalation_sweep(now=launched + timedelta(minutes=5))  # the notices go out
    # Due Thursday 31/12/2020; 01/01 is a holiday: overdue on Monday 04/01, escalated on Wednesday 06/01.
    overdue = escalation_sweep(now=datetime(2021, 1, 4, 9, tzinfo=TZ))
    escalated = escalation_sweep(now=datetime(2021, 1, 6, 9, tzinfo=TZ))
    again = escalation_sweep(now=datetime(2021, 1, 6, 9, 15, tzinfo=TZ))

    assert first["events"] == 0  # the launch's flow sent them already
    assert overdue["events"] == 4  # four assignments due 31/12 are open; annual-plan is due 29/01
    assert escalated["events"] == 4 and again["events"] == 0
    with transaction() as session:
        assert session.get(Outlet, "prefect-events").last_event_id > 0

    open_ones = {f"dondoc.assignment.{SLUG}.{key}" for key in (
        "network-transition", "permit-review", "land-use-conversion", "industrial-park-access")}
    bodies = receiver.wait(4, timeout=30)
    called = [json.loads(b) for b in bodies]
    assert {c["assignment"] for c in called} == open_ones
    assert {(c["event"], c["due"], c["days_late"]) for c in called} == {("dondoc.assignment.escalated", "2020-12-31", 3)}

    # The feed as Prefect stored it: names, resources, related resources, payload.
    stored = read_events("dondoc.assignment.", since=launched - timedelta(days=1), count=5 + 4 + 4,
                         received_after=started)
    by_name: dict[str, list] = {}
    for e in stored:
        by_name.setdefault(e["event"], []).append(e)
    assert {name: len(events) for name, events in by_name.items()} == {
        "dondoc.assignment.assigned": 5, "dondoc.assignment.overdue": 4, "dondoc.assignment.escalated": 4}
    assert {e["resource"]["prefect.resource.id"] for e in by_name["dondoc.assignment.overdue"]} == open_ones
    permit = next(e for e in by_name["dondoc.assignment.escalated"]
                  if e["resource"]["prefect.resource.id"].endswith(".permit-review"))
    assert {(r["prefect.resource.id"], r["prefect.resource.role"]) for r in permit["related"]} >= {
        (f"dondoc.directive.{SLUG}", "directive"), ("dondoc.agency.sxd", "lead"), ("dondoc.agency.viettel", "supporting")}
    assert permit["payload"]["due"] == "2020-12-31" and permit["payload"]["days_late"] == 3

    from prefect import get_client

    with get_client(sync_client=True) as client:
        client.delete_automation(automation_id)
