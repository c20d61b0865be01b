"""The board (issue 14 §4): its lists and agency table on SQLite as plain functions, then the artifact a sweep
publishes on the session's Prefect server."""

from __future__ import annotations

import re
import textwrap
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.lifecycle.extensions import request_extension
from models.lifecycle.launch import launch_directive
from models.lifecycle.refusal import decline
from models.lifecycle.updates import record_update
from models.oversight.board import board_is_current, build_board, last_event_id, mark_board
from models.store import migrate
from models.store.db import get_engine, session_scope
from notifications.board import MARKS, board_markdown

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
NOW = datetime(2021, 3, 25, 10, tzinfo=TZ)  # a Thursday
IMG = "<img src=x onerror=alert(1)>"
LINK = "[bấm](javascript:alert(1))"

DIRECTIVE = f"""\
number: 15/KH-UBND
issued_on: 2021-03-01
issuer: ubnd
subject: Kế hoạch thử bảng theo dõi
place: Long An
registry: agencies/long-an.yaml
ack_within: 0
review: true
assignments:
  - {{key: a, title: "Việc A {IMG}", action: Làm việc A., leads: [sxd], due: 2021-03-10}}
  - {{key: b, title: "Việc B {LINK}", action: Làm việc B., leads: [stnmt, sxd], due: 2021-03-19}}
  - {{key: c, title: Việc C, action: Làm việc C., leads: [stttt], due: 2021-03-24}}
  - {{key: d, title: Việc D, action: Làm việc D., leads: [sxd], due: 2021-03-31}}
  - {{key: e, title: Việc E, action: Làm việc E., leads: [stnmt], due: 2021-03-29}}
  - {{key: f, title: Việc F, action: Làm việc F., leads: [stttt], due: 2021-05-31}}
  - {{key: g, title: Việc G, action: Làm việc G., leads: [sxd], due: 2021-05-14}}
  - {{key: h, title: Việc H, action: Làm việc H., leads: [stnmt], due: 2021-05-17}}
  - {{key: i, title: Việc I, action: Làm việc I., leads: [stttt], due: 2021-05-18}}
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


@pytest.fixture
def engine(tmp_path, workspace):
    """a, b and c overdue (11, 4 and 1 working days on 25/03), d and e due within five working days, f later;
    g's result reported on 22/03, i's extension asked on 23/03, h declined on 24/03. One agency's name is
    hostile too."""
    registry = workspace / "agencies" / "long-an.yaml"
    registry.write_text(registry.read_text(encoding="utf-8").replace(
        "name: Sở Xây dựng\n", f"name: 'Sở Xây dựng {IMG} | {LINK}'\n", 1), encoding="utf-8")
    engine = get_engine(f"sqlite:///{tmp_path / 'board.db'}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_text(textwrap.dedent(DIRECTIVE), name="d.yaml",
                                                             base_dir=workspace), now=at("2021-03-01"), rules=RULES,
                         actor="t")
    slug = "15-kh-ubnd"
    with session_scope(engine) as session:
        record_update(session, slug=slug, key="g", status="done", evidence="12/BC-SXD", evidence_on=date(2021, 3, 22),
                      now=at("2021-03-22"), rules=RULES, actor="sxd", by_agency=True)
    with session_scope(engine) as session:
        request_extension(session, slug=slug, key="i", agency=None, until=date(2021, 6, 15), reason="Chờ số liệu",
                          now=at("2021-03-23"), rules=RULES)
    with session_scope(engine) as session:
        decline(session, slug=slug, key="h", agency="stnmt", reason="Không thuộc chức năng của Sở",
                now=at("2021-03-24"), rules=RULES)
    yield engine
    engine.dispose()


def test_the_board_lists_overdue_due_soon_waiting_and_agencies(engine):
    with session_scope(engine) as session:
        board = build_board(session, now=NOW, rules=RULES)
    assert [(i.key, i.days) for i in board.overdue] == [("a", 11), ("b", 4), ("c", 1)]  # most days late first
    assert board.overdue[1].leads == ("stnmt", "sxd") and {i.colour for i in board.overdue} == {"red"}
    assert [(i.key, i.days) for i in board.due_soon] == [("e", -2), ("d", -4)]  # soonest first; f is not due soon
    assert [(w.what, w.item.key, w.waited) for w in board.waiting] == [
        ("review", "g", 3), ("extension", "i", 2), ("decision", "h", 1)]  # longest waiting first
    assert board.waiting[1].until == date(2021, 6, 15) and board.waiting[1].agency == "stttt"
    assert board.counts == {"overdue": 3, "due_soon": 2, "waiting": 3} and (board.directives, board.open) == (1, 9)
    # The agency table is the scorecard of the year as of today (models/oversight/figures.py): most overdue first.
    assert board.span == (date(2021, 1, 1), date(2021, 12, 31))
    assert [(r.agency, r.open_overdue) for r in board.agencies] == [("sxd", 2), ("stttt", 1), ("stnmt", 1)]

    text = board_markdown(board, tz=RULES.tz)
    sections = text.split("\n## ")
    assert len(sections) == 5 and sections[1].startswith(f"{MARKS['red']} Quá hạn (3)")
    overdue = [line for line in sections[1].splitlines() if line.startswith(f"| {MARKS['red']} |")]
    assert [line.split(" | ")[1] for line in overdue] == ["15/KH-UBND"] * 3
    assert "| 10/03/2021 | 11 ngày làm việc |" in overdue[0] and "(c)" in overdue[2]
    assert "còn 2 ngày làm việc" in sections[2] and "còn 4 ngày làm việc" in sections[2] and "Việc F" not in text
    waiting = sections[3]
    assert "Xem xét kết quả" in waiting and "Đề nghị gia hạn đến 15/06/2021" in waiting
    assert "Quyết định giao lại hoặc giữ nguyên" in waiting and "3 ngày làm việc (từ 22/03/2021)" in waiting
    assert "nhiệm vụ có hạn trong năm 2021, tính đến 25/03/2021" in sections[4]
    assert "| 1 |" in sections[4] and "Sở Thông tin và Truyền thông (stttt)" in sections[4]
    assert "khác." not in text  # nothing cut


def test_the_board_shows_the_top_of_each_list_and_counts_the_rest(engine):
    with session_scope(engine) as session:
        board = build_board(session, now=NOW, rules=RULES, limit=2)
    assert [i.key for i in board.overdue] == ["a", "b"] and board.counts["overdue"] == 3
    assert len(board.waiting) == 2 and board.counts["waiting"] == 3
    text = board_markdown(board, tz=RULES.tz, limit=2)
    assert "… và 1 nhiệm vụ khác." in text and "… và 1 việc khác." in text and "… và 1 cơ quan khác." in text
    assert "Quá hạn (3)" in text and "Việc C" not in text


def test_agency_text_on_the_board_is_escaped(engine):
    with session_scope(engine) as session:
        text = board_markdown(build_board(session, now=NOW, rules=RULES), tz=RULES.tz)
    assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text  # a title and an agency's name
    assert "[bấm](" not in text and "\\[bấm\\](javascript:alert(1))" in text
    assert "Sở Xây dựng &lt;img src=x onerror=alert(1)&gt; \\| \\[bấm\\]" in text  # no cell break either
    # The escaped pipe does not split a cell: the agency table's row of sxd has its ten cells.
    row = next(line for line in text.splitlines() if line.startswith("| ") and "(sxd)" in line)
    assert len(re.split(r"(?<!\\)\|", row)) == 12


def test_the_board_is_rebuilt_after_an_event_or_on_a_new_day(engine):
    with session_scope(engine) as session:
        assert not board_is_current(session, now=NOW, rules=RULES)  # never published
        mark_board(session, now=NOW, event_id=last_event_id(session))
    with session_scope(engine) as session:
        assert board_is_current(session, now=at("2021-03-25", 15), rules=RULES)
        assert not board_is_current(session, now=at("2021-03-26", 8), rules=RULES)  # the day counts moved
        assert not board_is_current(session, now=at("2021-03-25", 9), rules=RULES)  # a clock set back
        record_update(session, slug="15-kh-ubnd", key="f", status="acknowledged", now=at("2021-03-25", 11),
                      rules=RULES, actor="stttt")
    with session_scope(engine) as session:
        assert not board_is_current(session, now=at("2021-03-25", 15), rules=RULES)


@pytest.mark.prefect
def test_a_sweep_publishes_the_board_artifact(database, prefect_server, monkeypatch):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.sweep import escalation_sweep
    from models.definition.loader import load_directive_file
    from models.store.db import transaction
    from tests.conftest import SEED

    monkeypatch.setenv("DONDOC_SMTP_PORT", "1")  # no mail server: the notices wait, the board does not
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=datetime(2020, 11, 30, 9, tzinfo=TZ),
                         rules=RULES, actor="t")
    first = escalation_sweep(now=datetime(2021, 1, 4, 10, tzinfo=TZ))
    again = escalation_sweep(now=datetime(2021, 1, 4, 10, 30, tzinfo=TZ))
    assert first["board"] is True and again["board"] is False  # nothing happened in between
    with get_client(sync_client=True) as client:
        board = ArtifactFilter(key=ArtifactFilterKey(any_=["board"]))
        artifact = client.read_latest_artifacts(artifact_filter=board)[0]
    assert artifact.type == "markdown" and artifact.data.startswith("# Bảng theo dõi nhiệm vụ")
    assert "2550/STTTT-BCTT" in artifact.data and "Các cơ quan chủ trì" in artifact.data
    assert "cập nhật 10:00 04/01/2021" in artifact.description


def test_the_agency_table_counts_leads_that_did_not_acknowledge(tmp_path, workspace):
    """figures() read each unacknowledged row's payload (two keys) as a one-column tuple, and failed."""
    from sqlalchemy import update

    from models.store.tables import Notification

    engine = get_engine(f"sqlite:///{tmp_path / 'ack.db'}")
    migrate.upgrade(engine)
    text = DIRECTIVE.replace("ack_within: 0", "ack_within: 1").replace("number: 15/", "number: 16/")
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_text(textwrap.dedent(text), name="d.yaml", base_dir=workspace),
                         now=at("2021-03-01"), rules=RULES, actor="t")
        session.execute(update(Notification).where(Notification.rung == "unacknowledged").values(state="sent"))
    with session_scope(engine) as session:
        rows = {r.agency: r for r in build_board(session, now=NOW, rules=RULES).agencies}
    assert (rows["sxd"].unacknowledged, rows["stnmt"].unacknowledged, rows["stttt"].unacknowledged) == (4, 3, 3)
    engine.dispose()
