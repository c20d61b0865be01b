"""Agency scorecards (issue 14 §2): the four columns as plain functions, then figures as of a date on SQLite."""

from __future__ import annotations

import json
import textwrap
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from models.calendar.periods import span_of
from models.calendar.timerules import TimeRules
from models.calendar.workdays import WorkCalendar
from models.definition.loader import load_directive_text
from models.lifecycle.launch import launch_directive
from models.lifecycle.updates import close_directive, extend_assignment, record_update
from models.lifecycle.queries import get_directive
from models.oversight.asof import State, replay
from models.oversight.figures import figures
from models.oversight.scorecard import DEFAULT_RATINGS, KEYS, classify, rating_of, score
from models.store import migrate
from models.store.db import get_engine, session_scope

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
CAL = WorkCalendar()
TODAY = date(2021, 3, 31)


def state(n: int, status: str, due: date, done_on: date | None = None, leads=("sxd",), **extra) -> State:
    return State(id=n, directive_id=1, key=f"a{n}", title="t", status=status, due=due, done_on=done_on, leads=leads,
                 **extra)


def test_the_four_columns_and_what_counts_in_none():
    assert classify(state(1, "done", date(2021, 3, 1), date(2021, 3, 1)), TODAY) == "on_time"
    assert classify(state(2, "done", date(2021, 3, 1), date(2021, 3, 2)), TODAY) == "late"
    assert classify(state(3, "in_progress", date(2021, 4, 1)), TODAY) == "open_in_time"
    assert classify(state(4, "assigned", date(2021, 3, 30)), TODAY) == "open_overdue"
    assert classify(state(5, "cancelled", date(2021, 3, 1)), TODAY) is None
    # A result reported on time and waiting for review is not the agency's delay.
    assert classify(state(6, "reported", date(2021, 3, 1), reported_on=date(2021, 2, 26)), TODAY) == "open_in_time"


def test_co_leads_each_count_it_and_the_rate_is_on_time_over_due_so_far():
    states = [state(1, "done", date(2021, 3, 1), date(2021, 3, 1), leads=("sxd", "stnmt")),
              state(2, "done", date(2021, 3, 1), date(2021, 3, 4), leads=("sxd",)),  # 3 working days late
              state(3, "assigned", date(2021, 3, 26), leads=("sxd",)),  # 3 working days overdue on 31/03
              state(4, "assigned", date(2021, 4, 30), leads=("sxd",)),  # not due yet: not in the rate
              state(5, "cancelled", date(2021, 3, 1), leads=("stnmt",), closed_by_directive=True)]
    rows = {r.agency: r for r in score(states, today=TODAY, calendar=CAL, names={"sxd": "Sở Xây dựng"})}
    sxd, stnmt = rows["sxd"], rows["stnmt"]
    assert (sxd.assigned, sxd.on_time, sxd.late, sxd.open_in_time, sxd.open_overdue) == (4, 1, 1, 1, 1)
    assert sxd.completion_rate == pytest.approx(1 / 3, abs=1e-4) and sxd.avg_days_late == 3.0
    assert (stnmt.assigned, stnmt.on_time, stnmt.completion_rate) == (2, 1, 1.0)
    assert (stnmt.rank, sxd.rank) == (1, 2) and stnmt.rating == "Hoàn thành xuất sắc nhiệm vụ"
    assert sxd.name == "Sở Xây dựng" and list(sxd.as_json()) == list(KEYS)


def test_ratings_follow_the_scale_and_a_registry_may_set_its_own():
    assert [rating_of(r, DEFAULT_RATINGS) for r in (1.0, 0.9, 0.75, 0.5, 0.1, None)] == [
        "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ",
        "Hoàn thành nhiệm vụ", "Không hoàn thành nhiệm vụ", "Chưa có nhiệm vụ đến hạn"]
    own = [{"min": 0.8, "name": "Tốt"}, {"min": 0.0, "name": "Chưa tốt"}]
    rows = score([state(1, "done", TODAY, TODAY)], today=TODAY, calendar=CAL, names={}, scales={"sxd": own})
    assert rows[0].rating == "Tốt"


def test_replaying_the_trail_gives_the_state_of_a_past_day():
    trail = [("created", {"due": "2021-03-01", "leads": ["sxd"], "supporting": []}),
             ("extended", {"from": "2021-03-01", "to": "2021-03-15"}),
             ("status", {"from": "assigned", "to": "reported", "reported_on": "2021-03-10"}),
             ("returned", {"due": "2021-03-20", "reported_on": "2021-03-10"})]
    s = replay(trail)
    assert (s.status, s.due, s.extended, s.returned) == ("in_progress", date(2021, 3, 20), 1, 1)
    assert replay(trail[:2]).due == date(2021, 3, 15) and replay([]) is None


@pytest.mark.parametrize(("name", "span"), [("2021-01", (date(2021, 1, 1), date(2021, 1, 31))),
                                            ("2021-Q1", (date(2021, 1, 1), date(2021, 3, 31))),
                                            ("2021-h2", (date(2021, 7, 1), date(2021, 12, 31))),
                                            ("2021", (date(2021, 1, 1), date(2021, 12, 31))),
                                            ("2021-13", None), ("2021-q0", None), ("q1", None), ("", None)])
def test_period_names(name, span):
    assert span_of(name) == span


DIRECTIVE = """\
number: 12/KH-UBND
issued_on: 2021-01-04
issuer: ubnd
subject: Kế hoạch thử bảng đánh giá
place: Long An
registry: agencies/long-an.yaml
ack_within: 0
assignments:
  - {key: a, title: Việc A, action: Làm việc A., leads: [sxd, stnmt], due: 2021-01-29}
  - {key: b, title: Việc B, action: Làm việc B., leads: [sxd], due: 2021-02-26}
  - {key: c, title: Việc C, action: Làm việc C., leads: [stttt], due: 2021-03-15}
  - {key: d, title: Việc D, action: Làm việc D., leads: [stttt], due: 2021-03-31}
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


@pytest.fixture
def played(tmp_path, workspace):
    """a done on time by both co-leads; b extended to 12/03 and done late on 16/03; c overdue; then the directive
    closes on 20/04 and cancels c and d."""
    engine = get_engine(f"sqlite:///{tmp_path / 'score.db'}")
    migrate.upgrade(engine)
    slug = "12-kh-ubnd"
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_text(textwrap.dedent(DIRECTIVE), name="d.yaml",
                                                             base_dir=workspace), now=at("2021-01-05"), rules=RULES,
                         actor="t")
    steps = [(record_update, dict(key="a", status="done"), "2021-01-28"),
             (extend_assignment, dict(key="b", until=date(2021, 3, 12), reason="Chờ số liệu"), "2021-02-20"),
             (record_update, dict(key="b", status="done"), "2021-03-16")]
    for fn, kwargs, day in steps:
        with session_scope(engine) as session:
            fn(session, slug=slug, now=at(day), rules=RULES, actor="t", **kwargs)
    with session_scope(engine) as session:
        close_directive(session, directive=get_directive(session, slug=slug), now=at("2021-04-20"), actor="t",
                        reason="thử")
    yield engine
    engine.dispose()


def test_figures_tell_the_truth_as_of_their_date(played):
    with session_scope(played) as session:
        before = figures(session, span=span_of("2021-q1"), now=at("2021-03-10"), rules=RULES)
        after = figures(session, span=span_of("2021-q1"), now=at("2021-04-30"), rules=RULES)
    rows = {r.agency: r for r in before.rows}
    # On 10/03: b (extended to 12/03) is still in time; c is not due yet.
    assert (rows["sxd"].on_time, rows["sxd"].open_in_time, rows["sxd"].extensions_granted) == (1, 1, 1)
    assert rows["stttt"].open_in_time == 2 and before.totals["cancelled"] == 0
    rows = {r.agency: r for r in after.rows}
    assert (rows["sxd"].on_time, rows["sxd"].late) == (1, 1) and rows["sxd"].avg_days_late == 2.0
    # c and d were cancelled when the directive closed: assigned, in none of the four columns, not rated.
    assert (rows["stttt"].assigned, rows["stttt"].open_overdue, rows["stttt"].completion_rate) == (2, 0, None)
    assert after.totals == {"assigned": 4, "on_time": 1, "late": 1, "open_in_time": 0, "open_overdue": 0,
                            "cancelled": 2}


def test_dondoc_scorecard_json_and_bad_input(played, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from dondoc.cli import app

    monkeypatch.setenv("DONDOC_DATABASE_URL", str(played.url))
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    result = runner.invoke(app, ["scorecard", "--period", "2021-q1", "--json", "--now", "2021-04-30T10:00+07:00"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # stderr may carry a hint from an earlier command
    assert [list(r) for r in rows] == [list(KEYS)] * len(rows)
    assert [(r["agency"], r["rank"]) for r in rows] == [("stnmt", 1), ("sxd", 2), ("stttt", 3)]
    one = json.loads(runner.invoke(app, ["scorecard", "--period", "2021-q1", "--agency", "sxd", "--json",
                                         "--now", "2021-04-30T10:00+07:00"]).stdout)
    assert [r["agency"] for r in one] == ["sxd"]
    table = runner.invoke(app, ["scorecard", "--from", "2021-01-01", "--until", "2021-03-31",
                                "--now", "2021-04-30T10:00+07:00"])
    assert table.exit_code == 0 and "Sở Xây dựng" in table.output and "50,0%" in table.output
    empty = runner.invoke(app, ["scorecard", "--period", "2022", "--json", "--now", "2022-01-05T10:00+07:00"])
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    for args, words in ((["--period", "2021-q5"], "không phải là một kỳ"),
                        (["--from", "2021-05-01", "--until", "2021-04-01"], "sau --until"),
                        (["--period", "2021", "--from", "2021-01-01"], "không dùng cùng"),
                        (["--agency", "nope"], "không có cơ quan 'nope'"),
                        (["--issuer", "nope"], "không có cơ quan ban hành 'nope'")):
        refused = runner.invoke(app, ["scorecard", *args])
        assert refused.exit_code == 2 and words in refused.output and "Traceback" not in refused.output, refused.output
