"""Catching up after downtime sends what is true today: the supersede rule as a pure function, then whole sweeps.

The rule (models.lifecycle.ladder.superseded) takes plain values; the sweeps run it against a real database and aiosmtpd.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from models.definition.definition import RungDef
from models.lifecycle.ladder import BEFORE_DUE, DEFAULT_LADDER, LEAD_CHAIN, Supersession, next_occurrence, plan, superseded
from notifications.outbox import skip_reason
from tests.test_outbox import RULES, SLUG, TZ, at, launch, rows, sweep

CAL = RULES.calendar
DUE = date(2020, 12, 31)  # the seed's first four assignments, whose rungs fall on these days:
DATES = {"reminder": date(2020, 12, 24), "due-soon": date(2020, 12, 30), "overdue": date(2021, 1, 4),
         "escalation": date(2021, 1, 6), "report-up": date(2021, 1, 8), "notice": date(2020, 11, 30)}


def rule(rung: str, today: date, *, on: date | None = None, due: date = DUE, ladder=DEFAULT_LADDER):
    return superseded(rung, on or DATES[rung], due=due, ladder=ladder, today=today, calendar=CAL)


def test_a_reminder_or_due_soon_is_not_sent_after_the_due_date():
    back = date(2021, 1, 4)  # down on 30/12 and 31/12; 01/01 is a holiday, then a weekend
    assert rule("reminder", back) == rule("due-soon", back) == Supersession(None, DUE)
    assert rule("overdue", back) is None  # its own day
    on_the_day = date(2020, 12, 31)  # the due-soon still tells the truth on the due date ("đến hạn trong hôm nay")
    assert rule("due-soon", on_the_day) is None
    assert rule("reminder", on_the_day) == Supersession("due-soon", date(2020, 12, 30))


def test_no_overdue_once_the_escalation_is_due_and_the_report_up_stands_apart():
    assert rule("overdue", date(2021, 1, 5)) is None  # a day late, nothing later due yet: it goes
    assert rule("overdue", date(2021, 1, 6)) == Supersession("escalation", date(2021, 1, 6))
    five_weeks = date(2021, 2, 4)
    assert rule("escalation", five_weeks) is None  # the top of the chain: to the lead's head
    assert rule("report-up", five_weeks) is None  # another authority: it goes, once (then resumes from today)
    assert rule("notice", five_weeks) is None


def test_a_repeating_rung_is_superseded_only_by_a_higher_rung_after_it():
    ladder = (RungDef(rung="overdue", offset=1, repeat=2, to=["leads"]),
              RungDef(rung="escalation", offset=3, to=["lead-heads"]))
    # overdue falls on 04/01 and then 06/01 (+3), 08/01; the escalation on 06/01.
    assert rule("overdue", date(2021, 1, 7), on=date(2021, 1, 4), ladder=ladder) == Supersession("escalation", date(2021, 1, 6))
    assert rule("overdue", date(2021, 1, 12), on=date(2021, 1, 8), ladder=ladder) is None  # its own later occurrence
    assert rule("escalation", date(2021, 1, 12), on=date(2021, 1, 6), ladder=ladder) is None


def test_the_reason_is_said_in_vietnamese():
    assert skip_reason(Supersession(None, DUE)) == (
        "không gửi bù: đã quá thời hạn 31/12/2020, nội dung nhắc trước hạn không còn đúng")
    assert skip_reason(Supersession("escalation", date(2021, 1, 6))) == (
        "không gửi bù: đã đến ngày gửi báo cáo Thủ trưởng đơn vị chủ trì (06/01/2021)")


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(due=days, late=st.integers(min_value=0, max_value=80))
def test_of_the_default_ladder_only_the_latest_applicable_rung_goes_out(due, late):
    due = CAL.roll_forward(due)
    planned = plan(DEFAULT_LADDER, due=due, now=datetime.combine(due - timedelta(days=90), datetime.min.time(), TZ),
                   rules=RULES, include_launch=False)
    today = due + timedelta(days=late - 10)
    verdicts = {p.rung: rule(p.rung, today, on=p.on, due=due) for p in planned}
    behind = [p.rung for p in planned if p.on < today and p.rung in LEAD_CHAIN]  # missed while down
    kept = [r for r in behind if verdicts[r] is None]
    assert len(kept) <= 1
    if kept:  # the highest rung already due, and never one that speaks of a deadline ahead once it has passed
        assert kept[0] == behind[-1] and not (kept[0] in BEFORE_DUE and today > due)
        assert all(p.on > today for p in planned
                   if p.rung in LEAD_CHAIN and LEAD_CHAIN.index(p.rung) > LEAD_CHAIN.index(kept[0]))
    for p in planned:
        if p.on >= today or p.rung not in LEAD_CHAIN:
            assert verdicts[p.rung] is None
        if p.rung in BEFORE_DUE and p.on < today and today > due:
            assert verdicts[p.rung] == Supersession(None, due)
        if p.rung == "overdue" and p.on < today and today >= CAL.add_working_days(due, 3):
            assert verdicts[p.rung] is not None


offsets = st.integers(min_value=-10, max_value=10)


@st.composite
def ladders(draw):
    names = draw(st.lists(st.sampled_from(LEAD_CHAIN + ("report-up",)), min_size=1, max_size=5, unique=True))
    return tuple(RungDef(rung=n, offset=draw(offsets), repeat=draw(st.none() | st.integers(1, 5)), to=["leads"])
                 for n in names)


@settings(max_examples=300, deadline=None)
@given(ladder=ladders(), due=days, on_shift=st.integers(-15, 15), late=st.integers(0, 30), later=st.integers(0, 30))
def test_any_ladder_a_late_message_once_superseded_stays_so_and_one_on_its_day_never_is(ladder, due, on_shift, late,
                                                                                          later):
    due = CAL.roll_forward(due)
    on = due + timedelta(days=on_shift)
    for r in ladder:
        today = on + timedelta(days=late)
        found = superseded(r.rung, on, due=due, ladder=ladder, today=today, calendar=CAL)
        if late == 0 or r.rung not in LEAD_CHAIN:
            assert found is None
        if found is not None:
            assert found.by is None or (on < found.since <= today
                                        and LEAD_CHAIN.index(found.by) > LEAD_CHAIN.index(r.rung))
            assert superseded(r.rung, on, due=due, ladder=ladder, today=today + timedelta(days=later),
                              calendar=CAL) is not None
        if r.rung in BEFORE_DUE and late and today > due:
            assert found == Supersession(None, due)


# Whole sweeps: the seed launched on 30/11/2020, its notices sent that morning.

def messages_by(smtp, rung):
    return [m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == rung]


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_two_days_down_sends_no_due_soon_after_the_due_date_and_the_overdue_tells_the_truth(database, smtp,
                                                                                            monkeypatch):
    launch()
    sweep(at(2020, 11, 30, 9, 5))
    sweep(at(2020, 12, 24, 8, 0))  # the reminders
    smtp.faults.data_replies[:] = ["451 4.3.0 Try again later"] * 50
    sweep(at(2020, 12, 30, 8, 0))  # the mail server is down: the due-soon rows wait for another attempt
    assert {r.state for r in rows(rung="due-soon") if r.on == date(2020, 12, 30)} == {"pending"}
    smtp.faults.data_replies.clear()
    sweep(at(2021, 1, 4, 9, 0))  # back after the due date (31/12; 01/01 a holiday, then a weekend)
    assert messages_by(smtp, "due-soon") == []
    due_soon = [r for r in rows(rung="due-soon") if r.on == date(2020, 12, 30)]
    assert {(r.state, r.last_error) for r in due_soon} == {
        ("skipped", "không gửi bù: đã quá thời hạn 31/12/2020, nội dung nhắc trước hạn không còn đúng")}
    sxd = next(m for m in messages_by(smtp, "overdue")
               if str(m["X-Dondoc-Assignment"]) == "permit-review" and "sxd@" in str(m["To"]))
    text = plain(sxd)
    assert "Đến nay nhiệm vụ đã quá hạn 1 ngày làm việc" in text
    assert "thư nhắc hạn ngày 24/12/2020." in text and "sắp đến hạn" not in text.lower()
    assert "Đôn đốc nhiệm vụ quá hạn" in str(sxd["Subject"])

    from dondoc.cli import app

    shown = CliRunner().invoke(app, ["outbox", SLUG, "--state", "skipped", "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    listed = json.loads(shown.stdout)
    assert {(i["rung"], i["state"]) for i in listed} == {("due-soon", "skipped")} and len(listed) == 4
    assert all("đã quá thời hạn 31/12/2020" in i["error"] for i in listed)
    # One line per row, so the reason reads whole. (Through the environment: setting the shared console's width
    # with monkeypatch would leave it at the width it read back, 80, for every later test.)
    monkeypatch.setenv("COLUMNS", "400")
    table = CliRunner().invoke(app, ["outbox", SLUG, "--state", "skipped"], catch_exceptions=False)
    assert "bỏ qua (không gửi bù: đã quá thời hạn 31/12/2020" in table.stdout


def test_five_weeks_down_sends_one_escalation_and_one_report_up_worded_for_today(database, smtp):
    launch()
    sweep(at(2020, 11, 30, 9, 5))
    back = date(2021, 2, 4)
    sweep(at(2021, 2, 4, 9, 0))
    sweep(at(2021, 2, 4, 10, 0))  # serve's next tick: nothing more
    sweep(at(2021, 2, 4, 8, 0) + timedelta(days=1))  # 05/02: only annual-plan's first report-up is due
    late = ("network-transition", "permit-review", "land-use-conversion", "industrial-park-access")
    for rung in ("reminder", "due-soon", "overdue"):
        assert messages_by(smtp, rung) == [], rung
        assert {r.state for r in rows(rung=rung)} == {"skipped"}
    escalations = messages_by(smtp, "escalation")
    assert sorted(str(m["X-Dondoc-Assignment"]) for m in escalations) == sorted(late + ("annual-plan",))
    reports = messages_by(smtp, "report-up")
    assert sorted(str(m["X-Dondoc-Assignment"]) for m in reports) == sorted(late + ("annual-plan",))
    overdue_days = CAL.working_days_between(DUE, back)
    report = next(m for m in reports if str(m["X-Dondoc-Assignment"]) == "permit-review")
    text = plain(report)
    assert report["Date"].datetime == at(2021, 2, 4, 9, 0)
    assert f"đến ngày 04/02/2021 đã quá hạn {overdue_days} ngày làm việc" in text
    assert f"(đã quá hạn {overdue_days} ngày làm việc)" in str(report["Subject"])
    # What it says was done is what was done: the head was told minutes before; no reminder went out.
    assert "Sở Thông tin và Truyền thông đã báo cáo Thủ trưởng đơn vị chủ trì." in text and "nhắc hạn" not in text
    assert "báo cáo thủ trưởng đơn vị chủ trì ngày 04/02/2021" in text
    escalation = next(m for m in escalations if str(m["X-Dondoc-Assignment"]) == "permit-review")
    assert "nhưng Sở Thông tin và Truyền thông chưa nhận được văn bản báo cáo kết quả" in plain(escalation)
    assert "đã nhắc hạn" not in plain(escalation) and "thư giao nhiệm vụ ngày 30/11/2020." in plain(escalation)
    # The series resumes from the day it caught up: the next report is five working days after 04/02.
    series = [(r.on, r.state) for r in rows(rung="report-up") if "/permit-review/" in r.key]
    following = next_occurrence(back, 5, RULES)[0]
    assert series == [(date(2021, 1, 8), "sent"), (following, "pending")]
    overdue = next(r for r in rows(rung="overdue") if "/permit-review/" in r.key)
    assert overdue.last_error == "không gửi bù: đã đến ngày gửi báo cáo Thủ trưởng đơn vị chủ trì (06/01/2021)"
    sweep(datetime.combine(following, datetime.min.time(), TZ) + timedelta(hours=8))
    again = [m for m in messages_by(smtp, "report-up") if str(m["X-Dondoc-Assignment"]) == "permit-review"]
    assert len(again) == 2
    # Its history names the day the first report went out, not the day it had been planned for (08/01).
    assert "báo cáo văn phòng ubnd tỉnh ngày 04/02/2021." in plain(again[-1]) and "08/01/2021" not in plain(again[-1])


def test_the_retry_hook_and_a_skipped_repeating_rung_resumes_its_series(database, smtp, workspace):
    """A custom ladder whose overdue repeats: superseded by the escalation, each series still goes on."""
    from sqlmodel import select

    from models.store.db import transaction
    from models.store.tables import Notification
    from notifications import outbox
    from tests.conftest import SEED

    custom = workspace / "custom.yaml"
    custom.write_text(SEED.read_text(encoding="utf-8").replace("milestone: annual-plan\n", (
        "milestone: annual-plan\nladder:\n  - {rung: notice, offset: launch, to: [leads]}\n"
        "  - {rung: overdue, offset: 1, repeat: 5, to: [leads]}\n  - {rung: escalation, offset: 3, to: [lead-heads]}\n")),
        encoding="utf-8")
    launch(custom)
    sweep(at(2020, 11, 30, 9, 5))
    # The retry path (due 31/12: overdue 04/01, escalation 06/01): retried while it stands, skipped once superseded.
    failing = dict(error="451 4.3.0 Try again later", retry_hours=96, rules=RULES, domain="localhost")
    with transaction() as session:
        row = session.exec(select(Notification).where(
            Notification.key == f"{SLUG}/permit-review/overdue/2021-01-04")).one()
        row.attempts = 1
        assert outbox.mark_retry(session, row, now=at(2021, 1, 5, 9), **failing) == "retrying"
        row.attempts = 2
        assert outbox.mark_retry(session, row, now=at(2021, 1, 6, 9), **failing) == "skipped"
        assert row.last_error == "không gửi bù: đã đến ngày gửi báo cáo Thủ trưởng đơn vị chủ trì (06/01/2021)"
    sweep(at(2021, 1, 6, 9))  # the sweep skips the other three the same way
    assert messages_by(smtp, "overdue") == [] and len(messages_by(smtp, "escalation")) == 4
    resumed = next_occurrence(date(2021, 1, 6), 5, RULES)[0]
    for key in ("network-transition", "permit-review", "land-use-conversion", "industrial-park-access"):
        assert [(r.on, r.state) for r in rows(rung="overdue") if f"/{key}/" in r.key] == [
            (date(2021, 1, 4), "skipped"), (resumed, "pending")], key
    sweep(datetime.combine(resumed, datetime.min.time(), TZ) + timedelta(hours=8))
    assert len(messages_by(smtp, "overdue")) == 5  # the next occurrence is not superseded: one per lead agency
