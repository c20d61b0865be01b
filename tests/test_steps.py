"""Steps that start after others (issue 12, §1): `after`, `due_in` and the waiting state, as plain functions on SQLite."""

from __future__ import annotations

import textwrap
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.errors import DefinitionError, IllegalTransition
from models.lifecycle.launch import launch_directive
from models.lifecycle.queries import get_directive, status_rows
from models.lifecycle.status import ready, waiting_for
from models.lifecycle.updates import record_update
from models.store import migrate
from models.store.db import get_engine, session_scope
from models.store.tables import Assignment, Event, Notification

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "7-kh-ubnd"

# Three inputs, then a plan drafted within 10 working days of the last input, then its approval.
STEPS = """\
number: 7/KH-UBND
issued_on: 2021-03-01
issuer: ubnd
subject: Xây dựng kế hoạch chuyển đổi số
place: Long An
registry: agencies/long-an.yaml
milestone: approve
assignments:
  - key: input-sxd
    title: Số liệu xây dựng
    action: Sở Xây dựng cung cấp số liệu.
    leads: [sxd]
    due: 2021-03-15
  - key: input-stnmt
    title: Số liệu đất đai
    action: Sở Tài nguyên và Môi trường cung cấp số liệu.
    leads: [stnmt]
    due_in: 5
  - key: draft
    title: Dự thảo kế hoạch
    action: Sở Thông tin và Truyền thông dự thảo kế hoạch.
    leads: [stttt]
    after: [input-sxd, input-stnmt]
    due_in: 10
  - key: approve
    title: Phê duyệt kế hoạch
    action: Văn phòng UBND trình phê duyệt.
    leads: [vp-ubnd]
    after: [draft]
    due: 2021-05-31
"""


def load(text: str, base: Path):
    return load_directive_text(textwrap.dedent(text), name="steps.yaml", base_dir=base)


def problems(text: str, base: Path) -> list:
    with pytest.raises(DefinitionError) as info:
        load(text, base)
    return info.value.problems


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("after: [draft]", "after: [ghost]"), "assignments[3].after[0]", "không tồn tại"),
        (("after: [draft]", "after: [approve]"), "assignments[3].after[0]", "chính nó"),
        (("    due: 2021-03-15\n", "    due: 2021-03-15\n    after: [approve]\n"), "assignments[0].after", "vòng tròn"),
        (("due_in: 10", "due_in: 0"), "assignments[2].due_in", "1"),
        (("due_in: 10", "due_in: 251"), "assignments[2].due_in", "250"),
        (("due_in: 10", "due_in: 10\n    due: 2021-04-30"), "assignments[2].due_in", "đúng một trong hai"),
        (("    due_in: 10\n", ""), "assignments[2]", "đúng một trong hai"),
    ],
)
def test_each_step_mistake_is_named_with_path_and_line(workspace, change, path, words):
    old, new = change
    assert old in STEPS
    found = problems(STEPS.replace(old, new), workspace)
    assert [p.path for p in found] == [path], found
    assert found[0].file == "steps.yaml" and found[0].line is not None
    assert words in found[0].message


def test_a_cycle_names_every_step_in_it(workspace):
    text = STEPS.replace("    due: 2021-03-15\n", "    due: 2021-03-15\n    after: [approve]\n")
    found = problems(text, workspace)
    assert "input-sxd → approve → draft → input-sxd" in found[0].message


def test_readiness_is_every_step_done_or_cancelled():
    assert ready(["a", "b"], {"a": "done", "b": "cancelled"})
    assert not ready(["a", "b"], {"a": "done", "b": "in_progress"})
    assert waiting_for(["a", "b", "c"], {"a": "done", "b": "waiting", "c": "assigned"}) == ["b", "c"]


@pytest.fixture
def engine(tmp_path):
    engine = get_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def _launch(engine, workspace) -> None:
    with session_scope(engine) as session:
        launch_directive(session, loaded=load(STEPS, workspace), now=at("2021-03-01"), rules=TimeRules(), actor="t")


def _rows(engine, day: str) -> dict:
    with session_scope(engine) as session:
        rows = status_rows(session, directive=get_directive(session, slug=SLUG), now=at(day), rules=TimeRules())
        return {r.key: r for r in rows}


def _rungs(engine, key: str) -> list[tuple[str, date | None]]:
    with session_scope(engine) as session:
        found = session.exec(select(Notification.rung, Notification.on).join(Assignment)
                             .where(Assignment.key == key, Notification.state == "pending")).all()
        return sorted((rung, on) for rung, on in found)


def test_waiting_steps_get_nothing_until_the_last_input_is_done(engine, workspace):
    _launch(engine, workspace)
    rows = _rows(engine, "2021-03-02")
    # due_in without after: five working days from the launch day, counted from the next day
    assert rows["input-stnmt"].due == date(2021, 3, 8) and rows["input-stnmt"].status == "assigned"
    assert rows["draft"].status == "waiting" and rows["draft"].due is None and rows["draft"].flag == "waiting"
    assert rows["draft"].waiting_for == ["input-sxd", "input-stnmt"]
    assert rows["approve"].waiting_for == ["draft"] and rows["approve"].due == date(2021, 5, 31)
    assert rows["draft"].as_json()["waiting_for"] == ["input-sxd", "input-stnmt"]
    assert _rungs(engine, "draft") == [] and _rungs(engine, "approve") == []  # no notice, no rung

    with session_scope(engine) as session, pytest.raises(IllegalTransition, match="đang chờ"):
        record_update(session, slug=SLUG, key="draft", status="acknowledged", now=at("2021-03-02"),
                      rules=TimeRules(), actor="stttt")

    with session_scope(engine) as session:
        first = record_update(session, slug=SLUG, key="input-sxd", status="done", now=at("2021-03-05"),
                              rules=TimeRules(), actor="sxd")
    assert first.started == [] and _rows(engine, "2021-03-05")["draft"].waiting_for == ["input-stnmt"]

    with session_scope(engine) as session:  # Friday 12/03, 15:00: the last input starts the draft in that transaction
        last = record_update(session, slug=SLUG, key="input-stnmt", status="done", now=at("2021-03-12", 15),
                             rules=TimeRules(), actor="stnmt")
    assert last.started == ["draft"]
    rows = _rows(engine, "2021-03-12")
    assert rows["draft"].status == "assigned" and rows["draft"].waiting_for == []
    assert rows["draft"].due == date(2021, 3, 26)  # 10 working days after Friday 12/03
    rungs = _rungs(engine, "draft")
    assert ("notice", None) in rungs or any(r == "notice" for r, _ in rungs)
    assert any(r == "reminder" for r, _ in rungs)
    assert rows["approve"].status == "waiting"
    with session_scope(engine) as session:
        started = session.exec(select(Event).where(Event.kind == "started")).all()
        assert [(e.payload["after"], e.payload["due"]) for e in started] == [(["input-sxd", "input-stnmt"], "2021-03-26")]
        notice = session.exec(select(Notification).join(Assignment).where(
            Assignment.key == "draft", Notification.rung == "notice")).one()
        assert notice.due_at == at("2021-03-12", 15)  # planned at the instant it started


def test_closing_the_directive_cancels_the_waiting_steps(engine, workspace):
    from models.lifecycle.updates import close_directive

    _launch(engine, workspace)
    with session_scope(engine) as session:
        directive = get_directive(session, slug=SLUG)
        cancelled = close_directive(session, directive=directive, now=at("2021-03-03"), actor="t", reason="thử")
    assert set(cancelled) == {"input-sxd", "input-stnmt", "draft", "approve"}
    assert {r.status for r in _rows(engine, "2021-03-03").values()} == {"cancelled"}


def test_status_names_what_a_waiting_step_waits_for(engine, workspace, monkeypatch, tmp_path):
    import json

    from typer.testing import CliRunner

    from dondoc.cli import app

    _launch(engine, workspace)
    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    shown = CliRunner().invoke(app, ["status", SLUG, "--now", "2021-03-02"])
    assert shown.exit_code == 0, shown.output
    line = next(l for l in shown.stdout.splitlines() if l.lstrip("│ ").startswith("draft"))
    assert "Chờ" in line and "10 ngày làm việc sau khi bắt đầu" in line
    assert "chờ: input-sxd, input-stnmt" in shown.stdout
    data = {r["key"]: r for r in json.loads(CliRunner().invoke(app, ["status", SLUG, "--json", "--now", "2021-03-02"]).stdout)}
    assert data["draft"]["status"] == "waiting" and data["draft"]["due"] is None
    assert data["draft"]["waiting_for"] == ["input-sxd", "input-stnmt"] and data["approve"]["waiting_for"] == ["draft"]
    refused = CliRunner().invoke(app, ["record", f"{SLUG}/draft", "--status", "acknowledged", "--now", "2021-03-02"])
    assert refused.exit_code != 0 and "đang chờ" in refused.stderr and "Traceback" not in refused.output


def test_the_report_counts_waiting_steps_apart(engine, workspace):
    from notifications.report import build_report

    _launch(engine, workspace)
    with session_scope(engine) as session:
        report = build_report(session, slug=SLUG, now=at("2021-03-02"), rules=TimeRules())
    assert ("Chờ nhiệm vụ trước", 2) in report.count_lines
    draft = next(row for row in report.rows if row["key"] == "draft")
    assert draft["due"] == "10 ngày làm việc sau khi bắt đầu" and "chờ: input-sxd, input-stnmt" in draft["status"]
