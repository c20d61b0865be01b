"""The escalation ladder as a pure function: the dates the issue names, and properties."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.definition.definition import RungDef
from models.lifecycle.ladder import DEFAULT_LADDER, message_id_for, next_occurrence, notification_key, plan
from models.calendar.timerules import TimeRules

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()


def dates_of(due: date, now: datetime) -> dict[str, date]:
    return {p.rung: p.on for p in plan(DEFAULT_LADDER, due=due, now=now, rules=RULES)}


def repeats(first: date, n: int, every: int = 5) -> list[date]:
    out = [first]
    for _ in range(n - 1):
        out.append(next_occurrence(out[-1], every, RULES)[0])
    return out


def test_assignment_due_31_12_2020():
    planned = dates_of(date(2020, 12, 31), datetime(2020, 11, 30, 9, tzinfo=TZ))
    assert planned == {
        "notice": date(2020, 11, 30), "reminder": date(2020, 12, 24), "due-soon": date(2020, 12, 30),
        "overdue": date(2021, 1, 4), "escalation": date(2021, 1, 6), "report-up": date(2021, 1, 8),
    }
    assert repeats(date(2021, 1, 8), 3) == [date(2021, 1, 8), date(2021, 1, 15), date(2021, 1, 22)]


def test_annual_plan_due_29_01_2021_skips_tet():
    planned = dates_of(date(2021, 1, 29), datetime(2020, 11, 30, 9, tzinfo=TZ))
    assert planned["reminder"] == date(2021, 1, 22) and planned["due-soon"] == date(2021, 1, 28)
    assert planned["overdue"] == date(2021, 2, 1) and planned["escalation"] == date(2021, 2, 3)
    assert repeats(planned["report-up"], 2) == [date(2021, 2, 5), date(2021, 2, 19)]


def test_rungs_go_out_at_08_00_local_and_notice_at_launch():
    launch = datetime(2020, 11, 30, 9, 17, tzinfo=TZ)
    for p in plan(DEFAULT_LADDER, due=date(2020, 12, 31), now=launch, rules=RULES):
        if p.rung == "notice":
            assert p.due_at == launch
        else:
            assert p.due_at.astimezone(TZ).time() == time(8, 0)


def test_rungs_already_past_are_not_planned_but_a_repeat_catches_up():
    planned = dates_of(date(2020, 12, 31), datetime(2021, 1, 11, 9, tzinfo=TZ))
    assert "reminder" not in planned and "overdue" not in planned
    assert planned["report-up"] == date(2021, 1, 15)


def test_extension_replan_has_no_notice():
    rungs = [p.rung for p in plan(DEFAULT_LADDER, due=date(2021, 1, 15), now=datetime(2020, 12, 22, 10, tzinfo=TZ),
                                  rules=RULES, include_launch=False)]
    assert "notice" not in rungs and rungs[0] == "reminder"


def test_keys_and_message_ids_are_stable():
    key = notification_key("2550-stttt-bctt", "permit-review", "reminder", date(2020, 12, 24))
    assert key == "2550-stttt-bctt/permit-review/reminder/2020-12-24"
    assert message_id_for(key, "longan.example.com") == "<reminder.20201224.permit-review.2550-stttt-bctt@longan.example.com>"
    assert message_id_for(key, "x") == message_id_for(key, "x")
    # A lead agency's own message: the same key plus the agency, distinct from the copy's and from a co-lead's.
    mine = message_id_for(key, "longan.example.com", "sxd")
    assert mine == "<reminder.20201224.permit-review.2550-stttt-bctt.sxd@longan.example.com>"
    assert mine == message_id_for(key, "longan.example.com", "sxd")
    assert len({mine, message_id_for(key, "longan.example.com", "sct"), message_id_for(key, "longan.example.com")}) == 3


def test_ladder_validation():
    with pytest.raises(ValueError, match="không lặp lại"):
        RungDef(rung="notice", offset="launch", repeat=5, to=["leads"])
    with pytest.raises(ValueError):
        RungDef(rung="reminder", offset=-5, to=["everyone"])
    with pytest.raises(ValueError):
        RungDef(rung="reminder", offset=-5, to=[])


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
       st.integers(min_value=0, max_value=60))
def test_planned_rungs_fall_on_working_days_in_order_and_never_in_the_past(due, lead_days):
    due = RULES.calendar.roll_forward(due)
    now = datetime.combine(RULES.calendar.add_working_days(due, -lead_days), time(9), tzinfo=TZ)
    planned = plan(DEFAULT_LADDER, due=due, now=now, rules=RULES)
    today = RULES.today(now)
    for p in planned:
        assert p.on >= today
        if p.rung != "notice":
            assert RULES.calendar.is_working_day(p.on)
    order = [p.rung for p in planned if p.rung != "notice"]
    assert order == [r for r in ("reminder", "due-soon", "overdue", "escalation", "report-up") if r in order]
    pre_due = {p.rung: p.on for p in planned}
    if "reminder" in pre_due:
        assert RULES.calendar.working_days_between(pre_due["reminder"], due) == 5
