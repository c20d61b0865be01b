"""Refusal and reassignment (issue 12, §4), as plain functions on SQLite, on the reply page and from the CLI."""

from __future__ import annotations

import html as htmlmod
import re
from datetime import date, datetime
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.errors import IllegalTransition, InputError
from models.lifecycle.launch import launch_directive
from models.lifecycle.queries import agencies_of, get_directive, status_rows
from models.lifecycle.refusal import decline, reassign
from models.lifecycle.updates import record_update
from models.store import migrate
from models.store.db import get_engine, session_scope
from models.store.tables import Assignment, Event, Notification

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "13-kh-ubnd"
RULES = TimeRules()

DIRECTIVE = """\
number: 13/KH-UBND
issued_on: 2021-03-01
issuer: ubnd
subject: Phát triển hạ tầng số
place: Long An
registry: agencies/long-an.yaml
assignments:
  - key: towers
    title: Quy hoạch vị trí trạm BTS
    action: Sở Tài nguyên và Môi trường quy hoạch vị trí trạm BTS.
    leads: [stnmt]
    supporting: [viettel]
    due: 2021-03-31
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


@pytest.fixture
def engine(tmp_path, workspace):
    engine = get_engine(f"sqlite:///{tmp_path / 'refusal.db'}")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        launch_directive(session, loaded=load_directive_text(DIRECTIVE, name="d.yaml", base_dir=workspace),
                         now=at("2021-03-01", 9), rules=RULES, actor="coordinator")
    yield engine
    engine.dispose()


def pending(engine) -> list[tuple[str, date, str]]:
    with session_scope(engine) as session:
        rows = session.exec(select(Notification).where(Notification.state == "pending").order_by(Notification.id)).all()
        return [(r.rung, r.on, r.key) for r in rows]


def state(engine) -> tuple[str, list[str], list[str], date]:
    with session_scope(engine) as session:
        a = session.exec(select(Assignment).where(Assignment.key == "towers")).one()
        roles = agencies_of(session, [a.id])[a.id]
        return a.status, roles["lead"], roles["supporting"], a.due


def refuse(engine, day: str = "2021-03-02") -> None:
    with session_scope(engine) as session:
        decline(session, slug=SLUG, key="towers", agency="stnmt", reason="Thuộc chức năng của Sở TTTT", now=at(day),
                rules=RULES)


def test_a_refusal_tells_the_coordinator_and_pauses_the_ladder(engine):
    assert {"reminder", "unacknowledged"} <= {rung for rung, _, _ in pending(engine)}
    with session_scope(engine) as session, pytest.raises(InputError, match="chủ trì"):
        decline(session, slug=SLUG, key="towers", agency="viettel", reason="x", now=at("2021-03-02"), rules=RULES)
    refuse(engine)
    assert state(engine)[0] == "declined"
    rows = pending(engine)
    assert [(rung, on) for rung, on, _ in rows if rung != "notice"] == [("declined", date(2021, 3, 2))]
    with session_scope(engine) as session:
        told = session.exec(select(Notification).where(Notification.rung == "declined")).one()
        assert told.to_audience == ["coordinator"] and told.payload["reason"] == "Thuộc chức năng của Sở TTTT"
        rows = status_rows(session, directive=get_directive(session, slug=SLUG), now=at("2021-03-03"), rules=RULES)
        assert rows[0].flag == "declined" and rows[0].unacknowledged == []  # declining is an action
    with session_scope(engine) as session, pytest.raises(IllegalTransition, match="từ chối"):
        record_update(session, slug=SLUG, key="towers", status="acknowledged", now=at("2021-03-02"), rules=RULES,
                      actor="stnmt")


def test_reassigning_gives_new_leads_a_notice_and_a_new_ladder(engine):
    refuse(engine)
    with session_scope(engine) as session, pytest.raises(InputError, match="không có trong danh mục"):
        reassign(session, slug=SLUG, key="towers", leads=["nobody"], reason="x", now=at("2021-03-03"), rules=RULES,
                 actor="coordinator")
    with session_scope(engine) as session:
        done = reassign(session, slug=SLUG, key="towers", leads=["stttt"], reason="Giao Sở TTTT chủ trì",
                        until=date(2021, 4, 10), now=at("2021-03-03"), rules=RULES, actor="coordinator")
    assert done.leads == ["stttt"] and done.due == date(2021, 4, 12)  # Saturday 10/04 → Monday 12/04
    assert state(engine) == ("assigned", ["stttt"], ["viettel"], date(2021, 4, 12))
    rows = pending(engine)
    notices = [key for rung, on, key in rows if rung == "notice" and on == date(2021, 3, 3)]
    assert len(notices) == 1  # to the new lead, now
    assert ("unacknowledged", date(2021, 3, 5)) in [(rung, on) for rung, on, _ in rows]
    assert any(rung == "reminder" and on > date(2021, 3, 31) for rung, on, _ in rows)  # for the new due date
    with session_scope(engine) as session:
        event = session.exec(select(Event).where(Event.kind == "reassigned")).one()
        assert event.payload["previous"]["leads"] == ["stnmt"] and event.payload["leads"] == ["stttt"]


def test_keeping_tells_the_agency_and_its_ladder_resumes(engine):
    with session_scope(engine) as session, pytest.raises(InputError, match="không có lời từ chối"):
        reassign(session, slug=SLUG, key="towers", keep=True, reason="x", now=at("2021-03-02"), rules=RULES,
                 actor="coordinator")
    refuse(engine)
    with session_scope(engine) as session:
        kept = reassign(session, slug=SLUG, key="towers", keep=True, reason="Đúng chức năng theo Quyết định 12",
                        now=at("2021-03-04"), rules=RULES, actor="coordinator")
    assert kept.kept and state(engine) == ("assigned", ["stnmt"], ["viettel"], date(2021, 3, 31))
    rungs = [(rung, on) for rung, on, _ in pending(engine)]
    assert ("decline-refused", date(2021, 3, 4)) in rungs
    assert any(rung == "reminder" for rung, _ in rungs)


def test_on_the_reply_page_the_old_leads_link_stops_after_reassignment(engine, monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from dondoc.web import create_app
    from models.settings import get_settings
    from notifications.links import ReplyLinks

    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_SECRET_KEY", "test-secret-not-for-production")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    client = TestClient(create_app(clock=lambda: at("2021-03-02")), follow_redirects=False)
    with session_scope(engine) as session:
        towers = session.exec(select(Assignment).where(Assignment.key == "towers")).one()
    token, _ = ReplyLinks.from_settings(get_settings()).token(assignment_id=towers.id, agency="stnmt", slug=SLUG,
                                                               key="towers", now=at("2021-03-01", 9))
    url = f"/phan-hoi/{SLUG}/towers?t={token}"
    page = client.get(url).text
    assert "Không thuộc chức năng, nhiệm vụ của đơn vị" in page
    action = htmlmod.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    tokens = dict(parse_qsl(urlsplit(action).query))
    empty = client.post(f"/phan-hoi/{SLUG}/towers/tu-choi", params=tokens, data={"reason": "  "})
    assert empty.status_code == 400 and "Vui lòng nêu lý do từ chối" in empty.text
    assert state(engine)[0] == "assigned"
    refused = client.post(f"/phan-hoi/{SLUG}/towers/tu-choi", params=tokens, data={"reason": "Thuộc Sở TTTT"})
    assert refused.status_code == 303
    page = client.get(url).text
    assert 'id="waiting-decision"' in page and "Bị từ chối" in page
    with session_scope(engine) as session:
        reassign(session, slug=SLUG, key="towers", leads=["stttt"], reason="Giao Sở TTTT", now=at("2021-03-03"),
                 rules=RULES, actor="coordinator")
    old = client.get(url)
    assert old.status_code == 403 and "không còn là đơn vị chủ trì" in old.text


def test_dondoc_reassign_from_the_command_line(engine, prefect_server, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from dondoc.cli import app

    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    for bad in (["--reason", "x"], ["--reason", "x", "--keep", "--leads", "sct"], ["--reason", "x", "--keep", "--until", "2021-04-01"]):
        refused = runner.invoke(app, ["reassign", f"{SLUG}/towers", *bad])
        assert refused.exit_code == 2 and "Traceback" not in refused.output, refused.output
    refuse(engine)
    moved = runner.invoke(app, ["reassign", f"{SLUG}/towers", "--leads", "stttt", "--supporting", "viettel,vnpt",
                                "--reason", "Giao Sở TTTT", "--now", "2021-03-03T10:00+07:00"])
    assert moved.exit_code == 0, moved.output
    assert "Đã giao lại" in moved.stderr and state(engine)[1:3] == (["stttt"], ["viettel", "vnpt"])
