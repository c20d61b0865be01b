"""Acknowledgement (issue 12, §3): a lead that takes no action in time is asked, once, citing Decree 30/2020 Art. 21."""

from __future__ import annotations

import email
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.lifecycle.extensions import request_extension
from models.lifecycle.launch import launch_directive
from models.lifecycle.queries import get_directive, status_rows
from models.lifecycle.updates import record_update
from models.store import migrate
from models.store.db import get_engine, session_scope
from models.store.tables import Notification

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "11-kh-ubnd"
RULES = TimeRules()

DIRECTIVE = """\
number: 11/KH-UBND
issued_on: 2021-03-01
issuer: ubnd
subject: Phát triển khu công nghiệp
place: Long An
registry: agencies/long-an.yaml
{ack}
assignments:
  - key: parks
    title: Rà soát mặt bằng khu công nghiệp
    action: Sở Công Thương, Ban Quản lý Khu Kinh tế rà soát mặt bằng.
    leads: [sct, bqlkkt]
    due: 2021-03-31
  - key: urgent
    title: Báo cáo nhanh
    action: Sở Xây dựng báo cáo nhanh.
    leads: [sxd]
    due: 2021-03-02
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def launched(tmp_path, workspace, ack: str = ""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = get_engine(f"sqlite:///{tmp_path / 'ack.db'}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_text(DIRECTIVE.format(ack=ack), name="a.yaml", base_dir=workspace),
                         now=at("2021-03-01", 9), rules=RULES, actor="coordinator")
    return engine


def asks(engine) -> list[tuple[str, str, date, datetime, list, list]]:
    with session_scope(engine) as session:
        rows = session.exec(select(Notification).where(Notification.rung == "unacknowledged",
                                                       Notification.state == "pending").order_by(Notification.id)).all()
        return [(r.payload["lead"], r.key.split("/")[1] if "/" in r.key else r.key, r.on, r.due_at.astimezone(TZ),
                 r.to_audience, r.cc_audience) for r in rows]


def silent(engine, day: str) -> dict[str, list[str]]:
    with session_scope(engine) as session:
        rows = status_rows(session, directive=get_directive(session, slug=SLUG), now=at(day), rules=RULES)
        return {r.key: r.unacknowledged for r in rows}


def test_each_lead_is_asked_once_the_day_after_its_last_day_and_not_when_the_due_date_comes_first(tmp_path, workspace):
    engine = launched(tmp_path, workspace)
    found = asks(engine)
    # Notice on Monday 01/03; by the end of Tuesday 02/03 (one working day); asked Wednesday 03/03 at 08:00.
    assert [(lead, on, due_at) for lead, _, on, due_at, _, _ in found] == [
        ("sct", date(2021, 3, 3), datetime(2021, 3, 3, 8, tzinfo=TZ)),
        ("bqlkkt", date(2021, 3, 3), datetime(2021, 3, 3, 8, tzinfo=TZ))]
    assert all(to == ["leads"] and cc == ["coordinator"] for *_, to, cc in found)  # `urgent` is due first: none

    with session_scope(engine) as session:  # Sở Công Thương acknowledges on Tuesday: only its own request goes
        record_update(session, slug=SLUG, key="parks", status="acknowledged", now=at("2021-03-02"), rules=RULES,
                      actor="sct")
    assert [lead for lead, *_ in asks(engine)] == ["bqlkkt"]
    assert silent(engine, "2021-03-02")["parks"] == []  # still within its day
    assert silent(engine, "2021-03-03")["parks"] == ["bqlkkt"]
    assert silent(engine, "2021-03-03")["urgent"] == ["sxd"]  # shown in status even where no message is sent

    with session_scope(engine) as session:  # asking for more time is an action too
        request_extension(session, slug=SLUG, key="parks", agency="bqlkkt", until=date(2021, 4, 15),
                          reason="Chờ số liệu", now=at("2021-03-03", 7), rules=RULES)
    assert asks(engine) == [] and silent(engine, "2021-03-04")["parks"] == []


def test_the_coordinator_recording_speaks_for_every_lead(tmp_path, workspace):
    engine = launched(tmp_path, workspace)
    with session_scope(engine) as session:
        record_update(session, slug=SLUG, key="parks", status="in_progress", now=at("2021-03-02"), rules=RULES,
                      actor="coordinator")
    assert asks(engine) == [] and silent(engine, "2021-03-05")["parks"] == []


def test_ack_within_zero_turns_it_off_and_two_gives_two_days(tmp_path, workspace):
    assert asks(launched(tmp_path / "off", workspace, "ack_within: 0")) == []
    two = launched(tmp_path / "two", workspace, "ack_within: 2")
    assert {on for _, _, on, *_ in asks(two)} == {date(2021, 3, 4)}
    assert silent(two, "2021-03-03")["parks"] == [] and silent(two, "2021-03-04")["parks"] == ["sct", "bqlkkt"]


def test_the_message_goes_to_its_lead_alone_with_a_copy_to_the_coordinator(tmp_path, workspace):
    from notifications.compose import compose
    from notifications.context import BatchContext

    engine = launched(tmp_path, workspace)
    with session_scope(engine) as session:
        row = session.exec(select(Notification).where(Notification.rung == "unacknowledged")).first()
        batch = BatchContext(session, [row], now=at("2021-03-03", 8), rules=RULES)
        prepared = batch.prepare(row)
        assert [p.agency for p in prepared.to] == ["sct"] and [p.agency for p in prepared.cc] == ["ubnd"]
        raw = compose(prepared, prepared.envelopes[0], mail_from="dondoc@longan.example.com", sender_name="dondoc",
                      now=at("2021-03-03", 8), domain="longan.example.com")
    message = email.message_from_bytes(raw)
    assert message["X-Dondoc-Rung"] == "unacknowledged"
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert "Ngày 01/03/2021" in text and "Điều 21 Nghị định số 30/2020/NĐ-CP" in text
    assert "chậm nhất là trong ngày làm việc tiếp theo" in text


def test_ack_within_out_of_range_is_refused_with_its_line(workspace):
    from models.errors import DefinitionError

    with pytest.raises(DefinitionError) as info:
        load_directive_text(DIRECTIVE.format(ack="ack_within: 31"), name="a.yaml", base_dir=workspace)
    assert [(p.path, p.line) for p in info.value.problems] == [("ack_within", 7)]
