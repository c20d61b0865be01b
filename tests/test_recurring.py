"""Recurring reports (issue 13): Decree 09/2019's periods as plain functions, then occurrences on SQLite."""

from __future__ import annotations

import textwrap
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.calendar.periods import by_name, first_due_after, period, schedule_text, series, too_early
from models.calendar.timerules import TimeRules
from models.calendar.workdays import WorkCalendar
from models.definition.loader import load_directive_text
from models.errors import DefinitionError, NotFound
from models.lifecycle.launch import launch_directive
from models.lifecycle.occurrences import open_due
from models.lifecycle.queries import get_assignment, get_directive, status_rows
from models.lifecycle.updates import close_directive, record_update
from models.store import migrate
from models.store.db import get_engine, session_scope
from models.store.tables import Assignment, Event, Notification, Series

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkCalendar()
RULES = TimeRules()
SLUG = "9-kh-ubnd"


def test_the_known_dates_of_the_issue():
    jan = period("month", 2021, 1, report_day=18, window="nd09", calendar=CAL)
    assert (jan.name, jan.window_from, jan.window_to, jan.due) == ("2021-01", date(2020, 12, 15), date(2021, 1, 14),
                                                                   date(2021, 1, 18))
    assert jan.due.weekday() == 0 and CAL.add_working_days(jan.due, -5) == date(2021, 1, 11)
    feb = period("month", 2021, 2, report_day=18, window="nd09", calendar=CAL)
    assert feb.due == date(2021, 2, 18) and feb.due.weekday() == 3
    assert CAL.add_working_days(feb.due, -5) == date(2021, 2, 4)  # Tết, 10–16/02, counts for nothing
    q1 = period("quarter", 2021, 1, report_day=18, window="nd09", calendar=CAL)
    assert (q1.name, q1.window_from, q1.window_to, q1.due) == ("2021-q1", date(2020, 12, 15), date(2021, 3, 14),
                                                               date(2021, 3, 18))
    assert jan.window_text == "số liệu từ ngày 15/12/2020 đến ngày 14/01/2021"


@pytest.mark.parametrize(("every", "number", "name", "window", "due"), [
    ("half-year", 1, "2021-h1", (date(2020, 12, 15), date(2021, 6, 14)), date(2021, 6, 18)),
    ("half-year", 2, "2021-h2", (date(2021, 6, 15), date(2021, 12, 14)), date(2021, 12, 20)),  # 18/12 is a Saturday
    ("year", 1, "2021", (date(2020, 12, 15), date(2021, 12, 14)), date(2021, 12, 20)),
])
def test_half_years_and_years(every, number, name, window, due):
    p = period(every, 2021, number, report_day=18, window="nd09", calendar=CAL)
    assert (p.name, (p.window_from, p.window_to), p.due) == (name, window, due)


def test_calendar_windows_are_due_in_the_month_after():
    p = period("quarter", 2021, 1, report_day=5, window="calendar", calendar=CAL)
    assert (p.window_from, p.window_to, p.due) == (date(2021, 1, 1), date(2021, 3, 31), date(2021, 4, 5))
    m = period("month", 2021, 12, report_day=5, window="calendar", calendar=CAL)
    assert (m.window_to, m.due) == (date(2021, 12, 31), date(2022, 1, 5))


def test_the_first_period_is_the_first_due_after_the_day_and_until_ends_the_series():
    assert first_due_after("month", date(2021, 1, 18), report_day=18, window="nd09", calendar=CAL).name == "2021-02"
    assert first_due_after("month", date(2021, 1, 17), report_day=18, window="nd09", calendar=CAL).name == "2021-01"
    names = [p.name for p in series("quarter", date(2021, 1, 5), report_day=18, window="nd09", calendar=CAL,
                                    until=date(2021, 9, 20))]
    assert names == ["2021-q1", "2021-q2", "2021-q3"]
    assert by_name("month", "2021-13", report_day=18, window="nd09", calendar=CAL) is None
    assert by_name("quarter", "2021-q2", report_day=18, window="nd09", calendar=CAL).due == date(2021, 6, 18)


def test_one_working_day_between_window_and_deadline():
    assert too_early(period("month", 2021, 1, report_day=15, window="nd09", calendar=CAL), CAL) is None
    assert too_early(period("month", 2021, 1, report_day=14, window="nd09", calendar=CAL), CAL) == date(2021, 1, 15)
    assert schedule_text("month", 18) == "báo cáo định kỳ hằng tháng, trước ngày 18"


DIRECTIVE = """\
number: 9/KH-UBND
issued_on: 2021-01-04
issuer: ubnd
subject: Báo cáo định kỳ về hạ tầng số
place: Long An
registry: agencies/long-an.yaml
ack_within: 0
assignments:
  - key: plan
    title: Kế hoạch
    action: Sở Thông tin và Truyền thông xây dựng kế hoạch.
    leads: [stttt]
    due: 2021-03-31
  - key: monthly-report
    title: Báo cáo tình hình phát triển hạ tầng viễn thông
    action: Các doanh nghiệp viễn thông báo cáo tình hình phát triển hạ tầng.
    leads: [viettel]
    supporting: [vnpt]
    every: month
    report_day: 18
    until: 2021-06-30
"""


def load(text: str, base: Path):
    return load_directive_text(textwrap.dedent(text), name="recurring.yaml", base_dir=base)


@pytest.mark.parametrize(("change", "path", "words"), [
    (("    report_day: 18\n", "    report_day: 10\n"), "assignments[1].report_day", "Điều 8 khoản 5"),
    (("    report_day: 18\n", "    report_day: 29\n"), "assignments[1].report_day", "28"),
    (("    report_day: 18\n", ""), "assignments[1]", "report_day"),
    (("    every: month\n", "    every: month\n    due: 2021-02-01\n"), "assignments[1].due", "every"),
    (("    every: month\n", "    every: month\n    due_in: 5\n"), "assignments[1].due_in", "every"),
    (("    until: 2021-06-30\n", "    until: 2020-12-31\n"), "assignments[1].until", "ngày ban hành"),
    (("    every: month\n", "    every: week\n"), "assignments[1].every", "month"),
    (("    due: 2021-03-31\n", "    due: 2021-03-31\n    report_day: 3\n"), "assignments[0].report_day", "every"),
    (("ack_within: 0\n", "ack_within: 0\nmilestone: monthly-report\n"), "milestone", "định kỳ"),
    (("    due: 2021-03-31\n", "    due: 2021-03-31\n    after: [monthly-report]\n"), "assignments[0].after[0]", "định kỳ"),
])
def test_each_mistake_in_a_recurring_report_is_named(workspace, change, path, words):
    old, new = change
    assert old in DIRECTIVE
    with pytest.raises(DefinitionError) as info:
        load(DIRECTIVE.replace(old, new), workspace)
    found = info.value.problems
    assert [p.path for p in found] == [path], found
    assert words in found[0].message and found[0].line is not None


@pytest.fixture
def engine(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'recurring.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def _launch(engine, workspace, text: str = DIRECTIVE, day: str = "2021-01-05") -> None:
    with session_scope(engine) as session:
        launch_directive(session, loaded=load(text, workspace), now=at(day), rules=RULES, actor="t")


def _sweep(engine, day: str, hour: int = 7) -> list[str]:
    with session_scope(engine) as session:
        return open_due(session, now=at(day, hour), rules=RULES, domain="localhost")


def _pending(engine, key: str) -> list[tuple[str, date]]:
    with session_scope(engine) as session:
        found = session.exec(select(Notification.rung, Notification.on).join(Assignment)
                             .where(Assignment.key == key, Notification.state == "pending")).all()
        return sorted(((rung, on) for rung, on in found), key=lambda r: r[1])


def test_the_first_occurrence_opens_at_launch_with_the_notice_and_the_next_the_day_after_its_due(engine, workspace):
    _launch(engine, workspace)
    assert _pending(engine, "monthly-report/2021-01") == [
        ("notice", date(2021, 1, 5)), ("reminder", date(2021, 1, 11)), ("due-soon", date(2021, 1, 15)),
        ("overdue", date(2021, 1, 19)), ("escalation", date(2021, 1, 21)), ("report-up", date(2021, 1, 25))]
    assert _sweep(engine, "2021-01-18", 23) == []  # still the day it is due
    assert _sweep(engine, "2021-01-19", 0) == [f"{SLUG}/monthly-report/2021-02"]
    assert _sweep(engine, "2021-01-19", 1) == []  # opened once
    # No notice for a later period, and its reminder falls before Tết.
    assert _pending(engine, "monthly-report/2021-02")[:2] == [("reminder", date(2021, 2, 4)),
                                                                ("due-soon", date(2021, 2, 17))]
    with session_scope(engine) as session:
        feb = get_assignment(session, slug=SLUG, key="monthly-report/2021-02")[1]
        assert (feb.window_from, feb.window_to, feb.due, feb.period) == (date(2021, 1, 15), date(2021, 2, 14),
                                                                         date(2021, 2, 18), "2021-02")
        assert [r.rung for r in session.exec(select(Notification).where(Notification.assignment_id == feb.id))] \
            .count("notice") == 0


def test_a_missed_period_stays_overdue_the_next_opens_and_slug_key_means_the_oldest_open(engine, workspace):
    _launch(engine, workspace)
    # A sweep after two months of silence opens each period in turn.
    assert _sweep(engine, "2021-03-01") == [f"{SLUG}/monthly-report/2021-02", f"{SLUG}/monthly-report/2021-03"]
    with session_scope(engine) as session:
        rows = {r.key: r for r in status_rows(session, directive=get_directive(session, slug=SLUG), now=at("2021-03-01"),
                                               rules=RULES)}
        assert rows["monthly-report/2021-01"].flag == "overdue"
        assert rows["monthly-report/2021-02"].flag == "overdue"
        assert rows["monthly-report/2021-03"].flag in ("on_track", "not_started")
        assert get_assignment(session, slug=SLUG, key="monthly-report")[1].key == "monthly-report/2021-01"
        record_update(session, slug=SLUG, key="monthly-report", status="done", now=at("2021-03-01"), rules=RULES,
                      actor="viettel")
        assert get_assignment(session, slug=SLUG, key="monthly-report")[1].key == "monthly-report/2021-02"
        record_update(session, slug=SLUG, key="monthly-report/2021-03", status="done", now=at("2021-03-02"),
                      rules=RULES, actor="viettel")
    with pytest.raises(NotFound), session_scope(engine) as session:
        get_assignment(session, slug=SLUG, key="monthly-report/2021-13")


def test_until_ends_the_series_and_the_directive_then_closes_when_all_is_done(engine, workspace):
    _launch(engine, workspace, DIRECTIVE.replace("until: 2021-06-30", "until: 2021-02-18"))
    assert _sweep(engine, "2021-02-19") == [f"{SLUG}/monthly-report/2021-02"]
    assert _sweep(engine, "2021-03-19") == []  # until: no March
    with session_scope(engine) as session:
        for key in ("plan", "monthly-report/2021-01"):
            record_update(session, slug=SLUG, key=key, status="done", now=at("2021-02-20"), rules=RULES, actor="t")
        assert get_directive(session, slug=SLUG).status == "active"
        result = record_update(session, slug=SLUG, key="monthly-report", status="done", now=at("2021-02-20"),
                               rules=RULES, actor="t")
        assert result.closed
        with pytest.raises(NotFound, match="không có kỳ nào đang mở"):
            get_assignment(session, slug=SLUG, key="monthly-report")


def test_while_a_series_goes_on_the_directive_does_not_close_and_closing_it_cancels_the_open_periods(engine, workspace):
    _launch(engine, workspace)
    with session_scope(engine) as session:
        record_update(session, slug=SLUG, key="plan", status="done", now=at("2021-01-06"), rules=RULES, actor="t")
        record_update(session, slug=SLUG, key="monthly-report", status="done", now=at("2021-01-06"), rules=RULES,
                      actor="t")
        directive = get_directive(session, slug=SLUG)
        assert directive.status == "active"  # February is still to come
    assert _sweep(engine, "2021-01-19") == [f"{SLUG}/monthly-report/2021-02"]
    with session_scope(engine) as session:
        close_directive(session, directive=get_directive(session, slug=SLUG), now=at("2021-01-20"), actor="t",
                        reason="thử")
        feb = get_assignment(session, slug=SLUG, key="monthly-report/2021-02")[1]
        assert feb.status == "cancelled"
        assert session.exec(select(Series)).one().status == "cancelled"
    assert _sweep(engine, "2021-02-19") == []


def test_a_recurring_report_may_wait_for_a_step(engine, workspace):
    text = DIRECTIVE.replace("    every: month\n", "    every: month\n    after: [plan]\n")
    _launch(engine, workspace, text)
    with session_scope(engine) as session:
        assert session.exec(select(Assignment).where(Assignment.series_id.is_not(None))).all() == []
        result = record_update(session, slug=SLUG, key="plan", status="done", now=at("2021-02-22"), rules=RULES,
                               actor="t")
        assert result.started == ["monthly-report/2021-03"]
        kinds = [e.kind for e in session.exec(select(Event).order_by(Event.id))]
        assert kinds.count("created") == 2 and "series" in kinds
    assert [r for r, _ in _pending(engine, "monthly-report/2021-03")][0] == "notice"


def _played(engine, workspace) -> None:
    """January done on time, February late, March missed, April open: the sweep opened each period."""
    _launch(engine, workspace)
    _sweep(engine, "2021-04-16")
    with session_scope(engine) as session:
        for key, day in (("monthly-report/2021-01", "2021-01-15"), ("monthly-report/2021-02", "2021-02-23")):
            record_update(session, slug=SLUG, key=key, status="done", now=at(day), rules=RULES, actor="viettel",
                          evidence="12/BC-VTLA")


def test_every_message_about_a_period_states_its_data_window_and_the_notice_its_schedule(engine, workspace):
    import email
    from email.header import decode_header, make_header

    from notifications.compose import compose
    from notifications.context import BatchContext
    from notifications.links import ReplyLinks

    _launch(engine, workspace)
    _sweep(engine, "2021-01-19")
    with session_scope(engine) as session:
        rows = session.exec(select(Notification).join(Assignment).where(
            Assignment.key.in_(("monthly-report/2021-01", "monthly-report/2021-02")),
            Notification.rung.in_(("notice", "reminder")))).all()
        links = ReplyLinks(secret="test-secret-not-for-production", public_url="https://dondoc.example", days=30,
                           rules=RULES)
        batch = BatchContext(session, rows, now=at("2021-02-04", 8), rules=RULES, links=links)
        mails = {}
        for r in rows:
            prepared = batch.prepare(r)
            raw = compose(prepared, prepared.envelopes[0], mail_from="dondoc@longan.example.com", sender_name="dondoc",
                          now=at("2021-02-04", 8), domain="longan.example.com")
            mails[(r.rung, r.on)] = email.message_from_bytes(raw)
    text = {k: next(p for p in m.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
            for k, m in mails.items()}
    notice = text[("notice", date(2021, 1, 5))]
    assert "Chế độ báo cáo: báo cáo định kỳ hằng tháng, trước ngày 18" in notice
    assert "tháng 01/2021 (số liệu từ ngày 15/12/2020 đến ngày 14/01/2021)" in notice
    february = text[("reminder", date(2021, 2, 4))]
    assert "Kỳ báo cáo: tháng 02/2021 (số liệu từ ngày 15/01/2021 đến ngày 14/02/2021)" in february
    subject = str(make_header(decode_header(mails[("reminder", date(2021, 2, 4))]["Subject"])))
    assert "(tháng 02/2021)" in subject and "18/02/2021" in subject
    assert mails[("reminder", date(2021, 2, 4))]["Message-ID"].startswith("<reminder.20210204.monthly-report.2021-02.")
    # The reply link names the period, with its slash as "~", which no key may hold.
    assert f"/phan-hoi/{SLUG}/monthly-report~2021-02?t=" in february


def test_status_shows_one_row_per_report_with_its_periods(engine, workspace, monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from dondoc.cli import app
    from models.lifecycle.queries import status_view

    _played(engine, workspace)
    with session_scope(engine) as session:
        directive = get_directive(session, slug=SLUG)
        view = status_view(session, directive=directive,
                           rows=status_rows(session, directive=directive, now=at("2021-04-16"), rules=RULES))
        report = view[1]
        assert [type(v).__name__ for v in view] == ["StatusRow", "SeriesRow"]
        assert report.current.period == "2021-04" and report.counts == {"on_time": 1, "late": 1, "missing": 1}
    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    shown = runner.invoke(app, ["status", SLUG, "--now", "2021-04-16T10:00+07:00"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("monthly-report") == 1 and "kỳ 2021-04" in shown.output
    assert "đúng hạn 1, trễ hạn 1, thiếu 1" in shown.output
    detail = runner.invoke(app, ["status", SLUG, "--occurrences", "--now", "2021-04-16T10:00+07:00"])
    assert detail.exit_code == 0 and all(p in detail.output for p in ("2021-01", "2021-02", "2021-03", "2021-04"))
    assert "15/12/2020–14/01/2021" in detail.output and "Hoàn thành quá hạn" in detail.output
    data = json.loads(runner.invoke(app, ["status", SLUG, "--json", "--now", "2021-04-16T10:00+07:00"]).stdout)
    monthly = next(r for r in data if r["key"] == "monthly-report")
    assert monthly["current"] == "2021-04" and (monthly["on_time"], monthly["late"], monthly["missing"]) == (1, 1, 1)
    assert [set(o) for o in monthly["occurrences"]][0] >= {"period", "window_from", "window_to", "due", "status", "done_on"}
    assert [(o["period"], o["status"], o["done_on"]) for o in monthly["occurrences"]] == [
        ("2021-01", "done", "2021-01-15"), ("2021-02", "done", "2021-02-23"), ("2021-03", "assigned", None),
        ("2021-04", "assigned", None)]
    assert monthly["occurrences"][0]["window_from"] == "2020-12-15"


def test_the_report_lists_each_period(engine, workspace, monkeypatch):
    from notifications.report import build_report, to_markdown

    _played(engine, workspace)
    with session_scope(engine) as session:
        report = build_report(session, slug=SLUG, now=at("2021-04-16"), rules=RULES, with_timeline=False)
        text = to_markdown(report)
    for period in ("tháng 01/2021", "tháng 02/2021", "tháng 03/2021", "tháng 04/2021"):
        assert period in text


def test_the_reply_page_and_the_command_line_work_per_period(engine, workspace, monkeypatch, tmp_path, prefect_server):
    import html as htmlmod
    import re
    from urllib.parse import parse_qsl, urlsplit

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from dondoc.cli import app
    from dondoc.web import create_app
    from models.settings import get_settings
    from notifications.links import ReplyLinks

    _played(engine, workspace)
    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_SECRET_KEY", "test-secret-not-for-production")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    now = at("2021-04-16")
    client = TestClient(create_app(clock=lambda: now), follow_redirects=False)
    with session_scope(engine) as session:
        march = get_assignment(session, slug=SLUG, key="monthly-report/2021-03")[1]
    links = ReplyLinks.from_settings(get_settings())
    token, _ = links.token(assignment_id=march.id, agency="viettel", slug=SLUG, key=march.key, now=at("2021-03-11", 8))
    url = urlsplit(links.page(SLUG, march.key, token))
    assert url.path == f"/phan-hoi/{SLUG}/monthly-report~2021-03"
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200 and "tháng 03/2021" in page.text
    action = htmlmod.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    assert urlsplit(action).path.startswith(f"/phan-hoi/{SLUG}/monthly-report~2021-03/")
    # The token of March opens March only.
    assert client.get(f"/phan-hoi/{SLUG}/monthly-report~2021-04?{url.query}").status_code == 403
    done = client.post(f"/phan-hoi/{SLUG}/monthly-report~2021-03/hoan-thanh", params=dict(parse_qsl(urlsplit(action).query)),
                       data={"number": "47/BC-VTLA", "document_date": "2021-04-15"})
    assert done.status_code == 303 and "monthly-report~2021-03" in done.headers["location"]
    runner = CliRunner()
    recorded = runner.invoke(app, ["record", f"{SLUG}/monthly-report/2021-04", "--status", "done", "--evidence",
                                   "66/BC-VTLA", "--now", "2021-04-16T11:00+07:00"])
    assert recorded.exit_code == 0, recorded.output
    none_open = runner.invoke(app, ["record", f"{SLUG}/monthly-report", "--status", "done",
                                    "--now", "2021-04-16T11:30+07:00"])
    assert none_open.exit_code == 1 and "không có kỳ nào đang mở" in none_open.output, none_open.output  # NotFound
    with session_scope(engine) as session:
        statuses = {a.key: a.status for a in session.exec(select(Assignment).where(Assignment.series_id.is_not(None)))}
    assert statuses == {"monthly-report/2021-01": "done", "monthly-report/2021-02": "done",
                        "monthly-report/2021-03": "done", "monthly-report/2021-04": "done"}
    unknown = runner.invoke(app, ["record", f"{SLUG}/monthly-report/2022-13", "--status", "done"])
    assert unknown.exit_code == 1 and "2022-13" in unknown.output and "Traceback" not in unknown.output


def test_a_period_due_right_after_the_launch_gets_its_notice_without_a_due_soon_before_it(engine, workspace):
    _launch(engine, workspace, day="2021-01-15")  # Friday; January is due Monday 18/01
    rungs = _pending(engine, "monthly-report/2021-01")
    assert rungs[0] == ("notice", date(2021, 1, 15)) and ("due-soon", date(2021, 1, 15)) not in rungs
    assert ("overdue", date(2021, 1, 19)) in rungs


def test_two_sweeps_at_once_open_each_period_once_on_either_database(database, workspace):
    """Two sessions read the same due series; only the one that clears its instant first opens the period."""
    engine = get_engine(database)
    migrate.upgrade(engine)
    _launch(engine, workspace)
    with session_scope(engine) as first, session_scope(engine) as second:
        seen = second.exec(select(Series)).one()  # the second sweep has read the series before the first commits
        assert seen.next_opens_at is not None
        assert open_due(first, now=at("2021-01-19", 7), rules=RULES, domain="localhost") == [
            f"{SLUG}/monthly-report/2021-02"]
        first.commit()
        assert open_due(second, now=at("2021-01-19", 7), rules=RULES, domain="localhost") == []
    with session_scope(engine) as session:
        keys = session.exec(select(Assignment.key).where(Assignment.series_id.is_not(None))).all()
        assert sorted(keys) == ["monthly-report/2021-01", "monthly-report/2021-02"]
        assert session.exec(select(Series)).one().next_period == "2021-03"


def _deliver(engine, now: datetime) -> None:
    """What the dispatcher records once the mail server took the due messages (the outbox's own functions)."""
    from notifications.outbox import claim, load, mark_sent

    with session_scope(engine) as session:
        for row in load(session, claim(session, now=now, limit=100, worker="t", stamp=now, lease=60)):
            mark_sent(session, row, now=now, recipients={}, rules=RULES, domain="localhost")


def test_the_timeline_draws_one_row_per_recurring_report_with_a_mark_per_period(engine, workspace):
    """January done on time, February late, March missing, April not yet due: one row, four period marks."""
    import re
    from datetime import timedelta

    from notifications.timeline import PERIOD_STYLE, lanes_from_db, timeline_svg

    hostile = "Báo cáo tình hình phát triển hạ tầng viễn thông <img src=x onerror=alert(1)>"
    _launch(engine, workspace, DIRECTIVE.replace("Báo cáo tình hình phát triển hạ tầng viễn thông", hostile))
    updates = {date(2021, 1, 15): "monthly-report/2021-01", date(2021, 2, 22): "monthly-report/2021-02"}
    day = date(2021, 1, 5)
    while day <= date(2021, 3, 25):  # the sweep and the dispatcher each morning, the reports as they come
        if CAL.is_working_day(day):
            _sweep(engine, day.isoformat())
            _deliver(engine, at(day.isoformat(), 8))
        if day in updates:
            with session_scope(engine) as session:
                record_update(session, slug=SLUG, key=updates[day], status="done", now=at(day.isoformat(), 10),
                              rules=RULES, actor="viettel")
        day += timedelta(days=1)
    start, end = date(2021, 1, 5), date(2021, 3, 25)
    with session_scope(engine) as session:
        lanes, _ = lanes_from_db(session, get_directive(session, slug=SLUG), until=at("2021-03-25", 18), rules=RULES)
        sent = session.exec(select(Notification.rung, Assignment.period).join(Assignment)
                            .where(Notification.state == "sent", Assignment.series_id.is_not(None))).all()
    assert [(lane.key, lane.recurring) for lane in lanes] == [("plan", False), ("monthly-report", True)]
    assert [(p.name, p.flag) for p in lanes[1].periods] == [
        ("2021-01", "done_on_time"), ("2021-02", "done_late"), ("2021-03", "overdue"), ("2021-04", "not_started")]
    assert len(lanes[1].marks) == len(sent) >= 8
    assert {p for _, _, p in lanes[1].marks} == {"2021-01", "2021-02", "2021-03"}
    svg = timeline_svg(title="t", start=start, end=end, lanes=lanes, days_off=[])

    row = svg[svg.index('<g class="recurring">'):]
    row = row[:row.index("\n</g>\n")]
    assert svg.count('<g class="recurring">') == 1 and "monthly-report ↻" in row and "monthly-report/" not in svg
    periods = re.findall(r'<g class="period ([a-z-]+)" data-period="([^"]+)"><title>([^<]+)</title><path [^>]*'
                         r'fill="([^"]+)"', row)
    assert periods == [
        ("done-on-time", "2021-01", "kỳ 2021-01: hoàn thành đúng hạn (hạn 18/01/2021, hoàn thành 15/01/2021)",
         PERIOD_STYLE["done_on_time"][1]),
        ("done-late", "2021-02", "kỳ 2021-02: hoàn thành quá hạn (hạn 18/02/2021, hoàn thành 22/02/2021)",
         PERIOD_STYLE["done_late"][1]),
        ("overdue", "2021-03", "kỳ 2021-03: quá hạn (hạn 18/03/2021)", PERIOD_STYLE["overdue"][1]),
        ("not-due", "2021-04", "kỳ 2021-04: chưa đến hạn (hạn 19/04/2021)", "#ffffff"),  # in the right margin
    ]
    assert PERIOD_STYLE["done_on_time"][1] == "#43a047" and PERIOD_STYLE["done_late"][1] == "#fb8c00" \
        and PERIOD_STYLE["overdue"][1] == "#e53935"
    assert row.count("— kỳ 2021-0") == len(sent)  # every message of every period, each naming its period
    assert "nhắc hạn" in row and "quá hạn" in row
    assert "<img" not in svg and "&lt;img src=x onerror=alert(1)&gt;" in row  # the title in the label's hover text
    assert "↻ kỳ báo cáo:" in svg and svg.count('class="period ') == 4 + 6  # and the legend's row

    # The one-shot row is drawn exactly as in a timeline without a recurring report, which has no legend row for them.
    alone = timeline_svg(title="t", start=start, end=end, lanes=lanes[:1], days_off=[])
    block = alone[alone.index("\n<g>\n"):alone.index("\n</g>\n") + 6]
    assert block in svg and "class=" not in block and "kỳ báo cáo" not in alone
    assert (lanes[0].due, lanes[0].periods, lanes[0].schedule) == (date(2021, 3, 31), [], "")
    assert lanes[0].marks and all(len(m) == 2 for m in lanes[0].marks)  # (day, rung), as before
    heights = [int(re.search(r'height="(\d+)"', text).group(1)) for text in (svg, alone)]
    assert heights[0] - heights[1] == 46 + 18  # a row, and the legend's row
