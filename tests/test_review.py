"""Review of reported results (issue 12, §2), as plain functions on SQLite, and the messages it sends."""

from __future__ import annotations

import email
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.errors import IllegalTransition, InputError
from models.lifecycle.launch import launch_directive
from models.lifecycle.queries import get_directive, status_rows
from models.lifecycle.review import review_result
from models.lifecycle.updates import record_update
from models.store import migrate
from models.store.db import get_engine, session_scope
from models.store.tables import Assignment, Event, Notification

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "9-kh-ubnd"
RULES = TimeRules()

REVIEWED = """\
number: 9/KH-UBND
issued_on: 2021-03-01
issuer: ubnd
subject: Rà soát thủ tục hành chính
place: Long An
registry: agencies/long-an.yaml
milestone: summary
review: true
assignments:
  - key: procedures
    title: Rà soát thủ tục xây dựng
    action: Sở Xây dựng rà soát thủ tục hành chính thuộc thẩm quyền.
    leads: [sxd]
    due: 2021-03-19
  - key: land
    title: Rà soát thủ tục đất đai
    action: Sở Tài nguyên và Môi trường rà soát thủ tục hành chính thuộc thẩm quyền.
    leads: [stnmt]
    due: 2021-03-19
  - key: summary
    title: Tổng hợp kết quả rà soát
    action: Văn phòng UBND tỉnh tổng hợp kết quả.
    leads: [vp-ubnd]
    after: [procedures, land]
    due_in: 5
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


@pytest.fixture
def engine(tmp_path, workspace):
    engine = get_engine(f"sqlite:///{tmp_path / 'review.db'}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_text(REVIEWED, name="r.yaml", base_dir=workspace),
                         now=at("2021-03-01", 9), rules=RULES, actor="t")
    yield engine
    engine.dispose()


def report_done(engine, key: str, day: str, agency: str, **extra):
    with session_scope(engine) as session:
        return record_update(session, slug=SLUG, key=key, status="done", now=at(day), rules=RULES, actor=agency,
                             evidence="15/SXD-QLXD", by_agency=True, **extra)


def review(engine, key: str, day: str, **kwargs):
    with session_scope(engine) as session:
        return review_result(session, slug=SLUG, key=key, now=at(day, 15), rules=RULES, actor="coordinator", **kwargs)


def pending(engine, key: str) -> list[tuple[str, date, int | None]]:
    with session_scope(engine) as session:
        rows = session.exec(select(Notification).join(Assignment).where(
            Assignment.key == key, Notification.state == "pending")).all()
        return sorted((r.rung, r.on, r.repeat) for r in rows)


def row(engine, key: str) -> dict:
    with session_scope(engine) as session:
        rows = status_rows(session, directive=get_directive(session, slug=SLUG), now=at("2021-03-31"), rules=RULES)
        return next(r.as_json() for r in rows if r.key == key)


def test_an_agencys_completion_waits_for_review_and_its_rungs_stop(engine):
    assert any(rung == "reminder" for rung, _, _ in pending(engine, "procedures"))
    recorded = report_done(engine, "procedures", "2021-03-03", "sxd")  # Wednesday
    assert recorded.status == "reported" and not recorded.closed
    state = row(engine, "procedures")
    assert state["status"] == "reported" and state["reported_on"] == "2021-03-03" and state["done_on"] is None
    assert state["flag"] == "reported"
    # the agency's ladder has stopped; the coordinator is asked after the 2nd working day: Monday 08/03, then every 2
    # (the notice, never sent here for want of a sweep, is not one of the ladder's reminders)
    assert [p for p in pending(engine, "procedures") if p[0] != "notice"] == [("review-request", date(2021, 3, 8), 2)]
    with session_scope(engine) as session:
        request = session.exec(select(Notification).where(Notification.rung == "review-request")).one()
        assert request.to_audience == ["coordinator"] and request.due_at == datetime(2021, 3, 8, 8, tzinfo=TZ)
    with pytest.raises(IllegalTransition, match="chờ xác nhận"):
        report_done(engine, "procedures", "2021-03-04", "sxd")
    # a waiting step does not start on a result that is only reported
    assert row(engine, "summary")["status"] == "waiting"


def test_a_completion_the_coordinator_records_is_accepted_at_once(engine):
    with session_scope(engine) as session:
        done = record_update(session, slug=SLUG, key="land", status="done", now=at("2021-03-04"), rules=RULES,
                             actor="coordinator", evidence="20/STNMT")
    assert done.status == "done" and row(engine, "land")["done_on"] == "2021-03-04"


def test_return_then_accept_judges_by_the_day_the_agency_reported(engine):
    report_done(engine, "procedures", "2021-03-03", "sxd")
    with pytest.raises(InputError, match="lý do"):
        review(engine, "procedures", "2021-03-04", accept=False, reason=" ")
    returned = review(engine, "procedures", "2021-03-04", accept=False, reason="Thiếu danh mục thủ tục",
                      until=date(2021, 3, 27))  # a Saturday: moved to Monday 29/03
    assert returned.status == "in_progress" and returned.due == date(2021, 3, 29)
    state = row(engine, "procedures")
    assert state["status"] == "in_progress" and state["due"] == "2021-03-29" and state["reported_on"] is None
    rungs = pending(engine, "procedures")
    assert ("returned", date(2021, 3, 4), None) in rungs
    assert not any(r == "review-request" for r, _, _ in rungs)  # the decision ended the requests
    assert any(r == "reminder" and on > date(2021, 3, 4) for r, on, _ in rungs)  # the ladder, planned again

    report_done(engine, "procedures", "2021-03-26", "sxd")  # within the new due date
    with pytest.raises(InputError, match="--until"):
        review(engine, "procedures", "2021-04-02", accept=True, until=date(2021, 4, 30))
    accepted = review(engine, "procedures", "2021-04-02", accept=True, reason="Đạt yêu cầu")
    assert accepted.status == "done" and not accepted.closed
    state = row(engine, "procedures")
    assert state["done_on"] == "2021-03-26" and state["flag"] == "done_on_time"
    assert ("accepted", date(2021, 4, 2), None) in pending(engine, "procedures")
    with pytest.raises(InputError, match="không có kết quả nào chờ xác nhận"):
        review(engine, "procedures", "2021-04-02", accept=True)
    with session_scope(engine) as session:
        kinds = [e.kind for e in session.exec(select(Event).join(Assignment).where(
            Assignment.key == "procedures").order_by(Event.id)).all()]
    assert kinds == ["created", "status", "returned", "status", "reviewed"]


def test_accepting_the_last_input_starts_the_next_step_and_the_milestone_closes(engine):
    report_done(engine, "procedures", "2021-03-03", "sxd")
    report_done(engine, "land", "2021-03-05", "stnmt")
    review(engine, "procedures", "2021-03-08", accept=True)
    accepted = review(engine, "land", "2021-03-09", accept=True)
    assert accepted.started == ["summary"]
    assert row(engine, "summary")["due"] == "2021-03-16"  # 5 working days after Tuesday 09/03
    report_done(engine, "summary", "2021-03-12", "vp-ubnd")
    with session_scope(engine) as session:
        assert get_directive(session, slug=SLUG).status == "active"  # a reported milestone does not close it
    closing = review(engine, "summary", "2021-03-15", accept=True)
    assert closing.closed


def test_the_review_messages_are_formal_vietnamese(engine):
    from notifications.compose import compose
    from notifications.context import BatchContext

    report_done(engine, "procedures", "2021-03-03", "sxd")
    review(engine, "procedures", "2021-03-04", accept=False, reason="Thiếu danh mục thủ tục")
    report_done(engine, "procedures", "2021-03-05", "sxd")
    review(engine, "procedures", "2021-03-08", accept=True, reason="Đạt yêu cầu")
    with session_scope(engine) as session:
        rows = session.exec(select(Notification).where(
            Notification.rung.in_(("review-request", "returned", "accepted")))).all()
        batch = BatchContext(session, rows, now=at("2021-03-08", 16), rules=RULES)
        mails = {}
        for r in rows:
            prepared = batch.prepare(r)
            envelope = prepared.envelopes[0]
            raw = compose(prepared, envelope, mail_from="dondoc@longan.example.com", sender_name="dondoc",
                          now=at("2021-03-08", 16), domain="longan.example.com")
            mails.setdefault(r.rung, email.message_from_bytes(raw))
    assert set(mails) == {"review-request", "returned", "accepted"}
    text = {rung: next(p for p in m.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
            for rung, m in mails.items()}
    assert mails["returned"]["X-Dondoc-Rung"] == "returned" and "Trả lại" in str(email.header.make_header(
        email.header.decode_header(mails["returned"]["Subject"])))
    assert "Lý do: Thiếu danh mục thủ tục" in text["returned"] and "báo cáo ngày 03/03/2021" in text["returned"]
    assert "xác nhận" in text["accepted"] and "ngày 05/03/2021" in text["accepted"] and "đúng thời hạn" in text["accepted"]
    assert "dondoc review 9-kh-ubnd/procedures --accept" in text["review-request"]


def test_dondoc_review_from_the_command_line(engine, prefect_server, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from dondoc.cli import app

    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")  # Click's error panel wraps at the terminal's width
    runner = CliRunner()
    report_done(engine, "procedures", "2021-03-03", "sxd")
    for bad, words in ((["--accept", "--return"], "đúng một trong hai"), ([], "đúng một trong hai"),
                       (["--return"], "lý do"), (["--accept", "--until", "2021-04-30"], "chỉ dùng khi trả lại")):
        refused = runner.invoke(app, ["review", f"{SLUG}/procedures", *bad])
        assert refused.exit_code == 2 and words in refused.output and "Traceback" not in refused.output, refused.output
    nothing = runner.invoke(app, ["review", f"{SLUG}/land", "--accept", "--now", "2021-03-04T10:00+07:00"])
    assert nothing.exit_code == 2 and "không có kết quả nào chờ xác nhận" in nothing.stderr
    returned = runner.invoke(app, ["review", f"{SLUG}/procedures", "--return", "--reason", "Thiếu danh mục",
                                   "--until", "2021-03-31", "--now", "2021-03-04T10:00+07:00"])
    assert returned.exit_code == 0, returned.output
    assert "Đã trả lại" in returned.stderr and "2021-03-31" in returned.stderr
    assert row(engine, "procedures")["status"] == "in_progress"


def test_the_reply_page_shows_the_wait_and_a_returns_reason(engine, monkeypatch, tmp_path):
    import html as htmlmod
    import re
    from urllib.parse import parse_qsl, urlsplit

    from fastapi.testclient import TestClient

    from dondoc.web import create_app
    from models.settings import get_settings
    from notifications.links import ReplyLinks

    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_SECRET_KEY", "test-secret-not-for-production")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    now = at("2021-03-03")
    client = TestClient(create_app(clock=lambda: now), follow_redirects=False)
    with session_scope(engine) as session:
        procedures = session.exec(select(Assignment).where(Assignment.key == "procedures")).one()
    token, _ = ReplyLinks.from_settings(get_settings()).token(assignment_id=procedures.id, agency="sxd", slug=SLUG,
                                                               key="procedures", now=at("2021-03-01", 9))
    url = f"/phan-hoi/{SLUG}/procedures?t={token}"
    action = htmlmod.unescape(re.search(r'<form method="post" action="([^"]+)"', client.get(url).text).group(1))
    tokens = dict(parse_qsl(urlsplit(action).query))
    done = client.post(f"/phan-hoi/{SLUG}/procedures/hoan-thanh", params=tokens,
                       data={"number": "15/SXD-QLXD", "document_date": "2021-03-02"})
    assert done.status_code == 303
    page = client.get(url).text
    assert "Chờ xác nhận" in page and 'action="' not in page  # reported: nothing more to do on the page
    assert row(engine, "procedures")["status"] == "reported"  # the agency's report waits for the coordinator
    review(engine, "procedures", "2021-03-04", accept=False, reason="Thiếu danh mục <b>thủ tục</b>")
    page = client.get(url).text
    assert 'id="returned"' in page and "Thiếu danh mục &lt;b&gt;thủ tục&lt;/b&gt;" in page
    assert "Đang thực hiện" in page and 'action="' in page  # back in progress: the agency may report again


def test_simulated_review_rows_are_checked_with_their_line(tmp_path):
    from models.errors import DefinitionError
    from models.lifecycle.responses import load_responses

    script = tmp_path / "r.yaml"
    script.write_text(
        "- {on: 2021-03-03, assignment: procedures, status: done, by: sxd}\n"
        "- {on: 2021-03-04, assignment: procedures, review: return, reason: Thiếu, until: 2021-03-31}\n"
        "- {on: 2021-03-05, assignment: procedures, review: return}\n"
        "- {on: 2021-03-05, assignment: procedures, review: accept, until: 2021-03-31}\n"
        "- {on: 2021-03-05, assignment: procedures, review: accept, status: done}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_responses(script, keys={"procedures"}, start=date(2021, 3, 1), until=date(2021, 4, 30))
    assert [p.line for p in info.value.problems] == [3, 4, 5]
    script.write_text("\n".join(script.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    rows = load_responses(script, keys={"procedures"}, start=date(2021, 3, 1), until=date(2021, 4, 30))
    assert [(r.status, r.by, r.review, r.until) for r in rows] == [("done", "sxd", None, None),
                                                                   (None, None, "return", date(2021, 3, 31))]


def test_the_timeline_draws_the_new_messages_and_its_legend_does_not_overlap():
    import re

    from notifications.timeline import RUNG_STYLE, Lane, timeline_svg

    marks = [(date(2021, 3, 3), "unacknowledged"), (date(2021, 3, 4), "declined"), (date(2021, 3, 8), "review-request"),
             (date(2021, 3, 9), "returned"), (date(2021, 3, 12), "accepted")]
    svg = timeline_svg(title="t", start=date(2021, 3, 1), end=date(2021, 5, 31), days_off=[],
                       lanes=[Lane(key="a", title="A", leads="sxd", due=None, colour="grey", marks=marks),
                              Lane(key="b", title="B", leads="sxd", due=date(2021, 4, 1), colour="blue")])
    for rung in ("unacknowledged", "declined", "review-request", "returned", "accepted"):
        colour, letter, label = RUNG_STYLE[rung]
        assert f"{letter} = {label}" in svg and f'fill="{colour}"' in svg
    legend = svg[svg.rindex('<g transform="translate(10,'):]
    places = re.findall(r'<rect x="(\d+)" y="(\d+)"', legend)
    assert len(places) == len(set(places)) == len(RUNG_STYLE)  # one place each
    symbols = re.search(r'<g transform="translate\((\d+), (\d+)\)">', legend).groups()
    assert symbols not in places and int(symbols[0]) + 150 <= 6 * 150  # the due-date and completion symbols too
