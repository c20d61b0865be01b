"""The assignment feed as data: which audit rows become which dondoc.assignment.* events, with what in them.

No Prefect here: the mapping is pure, and the database part reads a real project database.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from models.calendar.timerules import TimeRules
from models.lifecycle import feed
from models.lifecycle.feed import Change, State

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
CAL = RULES.calendar


def test_each_audit_kind_maps_to_the_feeds_words():
    assert feed.whats_of("created", {"due": "2020-12-31"}) == ["assigned"]
    assert feed.whats_of("created", {"due": None, "after": ["a"], "due_in": 5}) == []  # a waiting step: `started` later
    assert feed.whats_of("started", {}) == ["started"]
    for to in ("acknowledged", "reported", "done", "cancelled"):
        assert feed.whats_of("status", {"from": "assigned", "to": to}) == [to]
    assert feed.whats_of("status", {"from": "acknowledged", "to": "in_progress"}) == []
    assert feed.whats_of("reviewed", {"accepted": True}) == ["accepted", "done"]
    for kind in ("returned", "extended", "declined", "reassigned"):
        assert feed.whats_of(kind, {}) == [kind]
    assert feed.whats_of("decline_refused", {}) == ["reassigned"]
    for kind in ("launched", "closed", "series", "series_ended", "extension_requested", "extension_rejected", "requeued"):
        assert feed.whats_of(kind, {}) == []
    every = {w for k, p in [("created", {}), ("started", {}), ("reviewed", {}), ("returned", {}), ("extended", {}),
                            ("declined", {}), ("reassigned", {})] for w in feed.whats_of(k, p)}
    every |= {w for to in ("acknowledged", "reported", "done", "cancelled") for w in feed.whats_of("status", {"to": to})}
    assert every | {"overdue", "escalated"} == set(feed.WHATS)


def _change(i, kind, payload, day=1):
    return Change(id=i, at=datetime(2021, 1, day, 9, tzinfo=TZ), kind=kind, actor="t", assignment_id=7, payload=payload)


def test_states_are_walked_back_from_now_through_later_changes():
    changes = [
        _change(1, "created", {"due": "2020-12-31", "leads": ["sxd"], "supporting": ["viettel"]}),
        _change(2, "status", {"from": "assigned", "to": "acknowledged"}),
        _change(3, "extended", {"from": "2020-12-31", "to": "2021-01-15"}),
        _change(4, "declined", {"from": "acknowledged", "agency": "sxd"}),
        _change(5, "reassigned", {"leads": ["stnmt"], "supporting": [], "due": "2021-01-20",
                                  "previous": {"leads": ["sxd"], "supporting": ["viettel"], "due": "2021-01-15",
                                               "status": "declined"}}),
        _change(6, "status", {"from": "assigned", "to": "done"}),
    ]
    now = State(due=date(2021, 1, 20), status="done", leads=("stnmt",), supporting=())
    states = feed.states_at(changes, {7: now})
    assert states[1] == State(date(2020, 12, 31), "assigned", ("sxd",), ("viettel",))
    assert states[2] == State(date(2020, 12, 31), "acknowledged", ("sxd",), ("viettel",))
    assert states[3] == State(date(2021, 1, 15), "acknowledged", ("sxd",), ("viettel",))
    assert states[4] == State(date(2021, 1, 15), "declined", ("sxd",), ("viettel",))
    assert states[5] == State(date(2021, 1, 20), "assigned", ("stnmt",), ())
    assert states[6] == now


def test_the_first_overdue_day_follows_working_days():
    # Due Thursday 31/12/2020; 01/01/2021 is a holiday, then a weekend: the first overdue day is Monday 04/01.
    due = date(2020, 12, 31)
    for day in (date(2020, 12, 31), date(2021, 1, 1), date(2021, 1, 2), date(2021, 1, 3)):
        start, stop = feed.newly_overdue_range(date(2020, 12, 30), day, CAL)
        assert not start <= due < stop, day
    start, stop = feed.newly_overdue_range(date(2021, 1, 3), date(2021, 1, 4), CAL)
    assert start <= due < stop
    # Over daily sweeps, each due date is named once, on its first overdue day.
    days = [date.fromordinal(date(2020, 12, 28).toordinal() + i) for i in range(40)]
    named: dict[date, date] = {}
    for previous, today in zip(days, days[1:]):
        start, stop = feed.newly_overdue_range(previous, today, CAL)
        for d in days:
            if start <= d < stop:
                assert d not in named
                named[d] = today
    assert named[date(2020, 12, 31)] == date(2021, 1, 4)
    assert all(CAL.working_days_between(d, on) == 1 for d, on in named.items() if CAL.is_working_day(d))
    # A sweep that skipped days (a stopped server) names everything that fell overdue meanwhile.
    start, stop = feed.newly_overdue_range(date(2020, 12, 29), date(2021, 1, 6), CAL)
    assert (start, stop) == (date(2020, 12, 29), date(2021, 1, 6))
    assert feed.days_late(due, date(2021, 1, 6), CAL) == 3 and feed.days_late(due, date(2021, 1, 3), CAL) == 0


def test_an_event_in_prefects_shape():
    facts = feed.Facts(slug="bao-cao-thang", number="12/UBND-VP", key="monthly-report/2021-01",
                       title="Báo cáo\u202e tháng " + "x" * 300, period="2021-01", kind="report")
    state = State(due=date(2021, 1, 20), status="acknowledged", leads=("sxd",), supporting=("viettel", "vnpt"))
    change = _change(41, "status", {"from": "assigned", "to": "acknowledged", "note": "bí mật"}, day=25)
    [event] = feed.feed_events(change, facts, state, today=date(2021, 1, 25), calendar=CAL)
    out = feed.as_prefect_event(event, names={"sxd": "Sở Xây dựng"}, salt="s")
    assert out["event"] == "dondoc.assignment.acknowledged"
    assert out["resource"]["prefect.resource.id"] == "dondoc.assignment.bao-cao-thang.monthly-report.2021-01"
    assert out["resource"]["dondoc.key"] == "monthly-report/2021-01"
    name = out["resource"]["prefect.resource.name"]
    assert len(name) <= feed.NAME_LIMIT and "\\u202e" in name and "\u202e" not in name
    assert [(r["prefect.resource.id"], r["prefect.resource.role"]) for r in out["related"]] == [
        ("dondoc.directive.bao-cao-thang", "directive"), ("dondoc.agency.sxd", "lead"),
        ("dondoc.agency.viettel", "supporting"), ("dondoc.agency.vnpt", "supporting")]
    assert out["related"][1]["prefect.resource.name"] == "Sở Xây dựng"
    assert out["payload"] == {"directive": "bao-cao-thang", "key": "monthly-report/2021-01", "due": "2021-01-20",
                              "days_late": 3, "status": "acknowledged", "leads": ["sxd"], "period": "2021-01",
                              "audit_event": 41, "actor": "t"}
    assert "bí mật" not in str(out)  # notes and reasons stay in the audit trail
    again = feed.as_prefect_event(event, names={}, salt="s")
    assert again["id"] == out["id"] and feed.as_prefect_event(event, names={}, salt="other")["id"] != out["id"]


def test_a_campaign_read_back_from_the_audit_trail(database):
    from models.definition.loader import load_directive_file
    from models.lifecycle.launch import launch_directive
    from models.lifecycle.review import review_result
    from models.lifecycle.updates import extend_assignment, record_update
    from models.store.db import transaction
    from tests.conftest import SEED

    launched = datetime(2020, 11, 30, 9, tzinfo=TZ)
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=launched, rules=RULES, actor="coordinator")
    with transaction() as session:
        record_update(session, slug="2550-stttt-bctt", key="permit-review", status="acknowledged",
                      now=datetime(2020, 12, 1, 9, tzinfo=TZ), rules=RULES, actor="sxd")
        extend_assignment(session, slug="2550-stttt-bctt", key="permit-review", until=date(2021, 1, 15),
                          reason="chờ hồ sơ", now=datetime(2020, 12, 2, 9, tzinfo=TZ), rules=RULES, actor="coordinator")
        record_update(session, slug="2550-stttt-bctt", key="permit-review", status="done", evidence="15/SXD-QLXD",
                      now=datetime(2021, 1, 19, 9, tzinfo=TZ), rules=RULES, actor="sxd")

    with transaction() as session:
        changes, last = feed.read_changes(session, after=0, limit=500)
        facts, current = feed.load_assignments(session, (c.assignment_id for c in changes))
        states = feed.states_at(changes + feed.later_changes(session, after=last, assignment_ids=current), current)
        events = [e for c in changes for e in feed.feed_events(c, facts[c.assignment_id], states[c.id],
                                                               today=RULES.today(c.at), calendar=CAL)]
    permit = [e for e in events if e.facts.key == "permit-review"]
    assert [e.what for e in permit] == ["assigned", "acknowledged", "extended", "done"]
    assert [e.state.due for e in permit] == [date(2020, 12, 31)] * 2 + [date(2021, 1, 15)] * 2
    assert permit[-1].days_late == 2  # done on 19/01, due 15/01: two working days late
    assert permit[0].state.leads == ("sxd",) and "viettel" in permit[0].state.supporting
    assert {e.facts.key for e in events if e.what == "assigned"} == {
        "network-transition", "permit-review", "land-use-conversion", "industrial-park-access", "annual-plan"}

    # Overdue: those still open when their due date has passed; one range on the due index.
    start, stop = feed.newly_overdue_range(date(2020, 12, 31), date(2021, 1, 4), CAL)
    with transaction() as session:
        overdue = feed.open_due_between(session, start, stop)
        names = {facts[i].key for i in overdue}
    assert names == {"network-transition", "land-use-conversion", "industrial-park-access"}


def test_prefect_unreachable_leaves_the_cursor_where_it_was(tmp_path, monkeypatch):
    from models.definition.loader import load_directive_file
    from models.lifecycle.launch import launch_directive
    from models.store.db import transaction
    from models.store.tables import Outlet
    from tasks.feed import publish
    from tests.conftest import SEED

    monkeypatch.setenv("DONDOC_DATABASE_URL", f"sqlite:///{tmp_path / 'dondoc.db'}")
    launched = datetime(2020, 11, 30, 9, tzinfo=TZ)
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=launched, rules=RULES, actor="coordinator")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # the discard port: nothing answers
        result = publish(launched, derive=True)
    assert result["unreachable"] and result["events"] == 0
    with transaction() as session:
        assert session.get(Outlet, feed.OUTLET) is None  # the next call starts from the same place
