"""One digest per coordinator per working day (issue 14 §1), as plain functions on SQLite."""

from __future__ import annotations

import textwrap
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.lifecycle.launch import launch_directive
from models.lifecycle.planning import plan_digests
from models.lifecycle.updates import record_update
from models.store import migrate
from models.store.db import get_engine, session_scope
from models.store.tables import Notification
from notifications.context import BatchContext

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()

TEMPLATE = """\
number: {n}/KH-{issuer_upper}
issued_on: 2021-03-01
issuer: {issuer}
subject: Kế hoạch số {n}
place: Long An
registry: agencies/long-an.yaml
review: true
ack_within: 0
assignments:
  - {{key: a, title: Việc A của kế hoạch {n}, action: Làm việc A., leads: [sxd], due: 2021-03-05}}
  - {{key: b, title: Việc B của kế hoạch {n}, action: Làm việc B., leads: [stnmt], due: 2021-03-31}}
"""


def at(day: str, hour: int = 8, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=TZ)


@pytest.fixture
def engine(tmp_path, workspace):
    engine = get_engine(f"sqlite:///{tmp_path / 'digest.db'}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        for n, issuer in ((1, "ubnd"), (2, "ubnd"), (3, "ubnd"), (4, "stttt")):
            text = TEMPLATE.format(n=n, issuer=issuer, issuer_upper=issuer.upper())
            launch_directive(session, loaded=load_directive_text(textwrap.dedent(text), name=f"{n}.yaml",
                                                                 base_dir=workspace),
                             now=at("2021-03-01", 9), rules=RULES, actor="t")
    yield engine
    engine.dispose()


def digests(engine, day: str) -> list[Notification]:
    with session_scope(engine) as session:
        return [r for r in session.exec(select(Notification).where(Notification.rung == "digest")
                                        .order_by(Notification.key)).all() if r.on.isoformat() == day]


def plan(engine, now: datetime) -> int:
    with session_scope(engine) as session:
        return plan_digests(session, now=now, rules=RULES, domain="localhost")


def test_one_digest_per_coordinator_and_none_without_news(engine):
    assert plan(engine, at("2021-03-02", 7, 59)) == 0  # before 08:00
    assert plan(engine, at("2021-03-02")) == 2  # three directives of the UBND, one of Sở TTTT: two messages
    assert plan(engine, at("2021-03-02", 9)) == 0  # decided once a day
    rows = digests(engine, "2021-03-02")
    assert [(r.key, r.directive_id, r.payload, r.state) for r in rows] == [
        ("coordinator-stttt/-/digest/2021-03-02", None, {"issuer": "stttt"}, "pending"),
        ("coordinator-ubnd/-/digest/2021-03-02", None, {"issuer": "ubnd"}, "pending")]
    with session_scope(engine) as session:  # as if they were sent
        for row in session.exec(select(Notification).where(Notification.rung == "digest")).all():
            row.state, row.sent_at = "sent", at("2021-03-02", 8, 1)
            session.add(row)
    # Nothing happened since: no digest, and the day's row says why.
    assert plan(engine, at("2021-03-03")) == 0
    quiet = digests(engine, "2021-03-03")
    assert {r.state for r in quiet} == {"cancelled"} and "không có tin mới" in quiet[0].last_error
    # A result reported to the UBND waits for its review: the UBND gets a digest every day until it decides.
    with session_scope(engine) as session:
        record_update(session, slug="1-kh-ubnd", key="a", status="done", now=at("2021-03-03", 15), rules=RULES,
                      actor="sxd", by_agency=True)
    assert plan(engine, at("2021-03-04")) == 1
    with session_scope(engine) as session:
        row = session.exec(select(Notification).where(Notification.key == "coordinator-ubnd/-/digest/2021-03-04")).one()
        row.state, row.sent_at = "sent", at("2021-03-04", 8, 1)
        session.add(row)
    assert plan(engine, at("2021-03-05")) == 1  # no news, but the review still waits
    assert [r.payload["issuer"] for r in digests(engine, "2021-03-05") if r.state == "pending"] == ["ubnd"]


def test_the_digest_covers_every_directive_of_its_coordinator(engine):
    with session_scope(engine) as session:
        record_update(session, slug="2-kh-ubnd", key="a", status="done", now=at("2021-03-04", 15), rules=RULES,
                      actor="sxd", by_agency=True)
    plan(engine, at("2021-03-09"))
    with session_scope(engine) as session:
        row = session.exec(select(Notification).where(Notification.key == "coordinator-ubnd/-/digest/2021-03-09")).one()
        prepared = BatchContext(session, [row], now=at("2021-03-09"), rules=RULES).prepare(row)
    d = prepared.context["digest"]
    assert d["directives"] == 3 and [p.agency for p in prepared.to] == ["ubnd"]
    assert [(w["number"], w["key"], w["days"]) for w in d["waiting"]] == [("2/KH-UBND", "a", 3)]
    # Overdue, most late first: the two other "a"s, due 05/03, two working days late on 09/03.
    assert [(o["number"], o["key"], o["days"]) for o in d["overdue"]] == [("1/KH-UBND", "a", 2), ("3/KH-UBND", "a", 2)]
    assert d["due_this_week"] == [] and d["totals"]["assigned"] == 6
    assert all(c["number"].endswith("KH-UBND") for c in d["changes"])  # never another coordinator's directive
    from notifications.compose import compose

    raw = compose(prepared, prepared.envelopes[0], mail_from="dondoc@longan.example.com", sender_name="dondoc",
                  now=at("2021-03-09"), domain="longan.example.com")
    from email import message_from_bytes, policy

    text = message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "[2/KH-UBND] Việc A của kế hoạch 2 (a) — xem xét kết quả, chờ 3 ngày làm việc" in text
    assert "dondoc review 2-kh-ubnd/a --accept" in text and "quá hạn 2 ngày làm việc" in text
