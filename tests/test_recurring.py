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
