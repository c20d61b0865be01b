"""Whole campaigns on a simulated clock, checked against the headers of the messages delivered."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc.mailbox import read_messages
from tests.conftest import ROOT, SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RESPONSES = ROOT / "directives" / "2550-STTTT-BCTT.responses.yaml"
runner = CliRunner()


def ladder(messages) -> dict[str, dict[str, list[date]]]:
    """assignment → rung → the local dates it was sent on, from the messages' own headers."""
    out: dict[str, dict[str, list[date]]] = defaultdict(lambda: defaultdict(list))
    for m in messages:
        key = str(m["X-Dondoc-Assignment"]) if m["X-Dondoc-Assignment"] else "-"
        out[key][str(m["X-Dondoc-Rung"])].append(m["Date"].datetime.astimezone(TZ).date())
    return out


@pytest.fixture(scope="module")
def demo_campaign(tmp_path_factory, prefect_server):
    base = tmp_path_factory.mktemp("campaign")
    result = runner.invoke(app, ["simulate", str(SEED), "--from", "2020-11-30T09:00+07:00", "--until", "2021-02-26",
                                 "--responses", str(RESPONSES), "--maildir", str(base / "maildir"), "--json"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), read_messages(base / "maildir")


def test_an_assignment_that_never_finishes_climbs_the_ladder_until_the_plan_is_issued(demo_campaign):
    _, messages = demo_campaign
    sent = ladder(messages)["industrial-park-access"]
    assert sent == {
        "notice": [date(2020, 11, 30)],
        "reminder": [date(2020, 12, 24)],
        "due-soon": [date(2020, 12, 30)],
        "overdue": [date(2021, 1, 4)],
        "escalation": [date(2021, 1, 6)],
        "report-up": [date(2021, 1, 8), date(2021, 1, 15), date(2021, 1, 22)],
    }
    closed = [m for m in messages if str(m["X-Dondoc-Rung"]) == "closed"]
    assert len(closed) == 1 and closed[0]["Date"].datetime == datetime(2021, 1, 28, 16, 0, tzinfo=TZ)
    assert max(m["Date"].datetime for m in messages) == closed[0]["Date"].datetime


def test_on_time_late_and_extended_assignments(demo_campaign):
    _, messages = demo_campaign
    sent = ladder(messages)
    assert set(sent["permit-review"]) == {"notice", "reminder"}  # done on 28/12, before the due-soon rung of 30/12
    assert "overdue" in sent["land-use-conversion"] and "report-up" in sent["land-use-conversion"]
    assert sent["network-transition"]["reminder"] == [date(2021, 1, 8)]  # re-planned for the new due date 15/01
    assert sent["network-transition"]["extension-request"] == [date(2020, 12, 22)]
    assert sent["network-transition"]["extension-decision"] == [date(2020, 12, 22)]
    assert "overdue" not in sent["network-transition"]


def test_every_message_carries_the_headers(demo_campaign):
    timeline, messages = demo_campaign
    assert len(timeline) == len(messages)
    for m in messages:
        assert str(m["X-Dondoc-Directive"]) == "2550-stttt-bctt"
        assert str(m["X-Dondoc-Rung"]) in {"notice", "reminder", "due-soon", "overdue", "escalation", "report-up", "digest",
                                           "closed", "extension-request", "extension-decision"}
        assert ("X-Dondoc-Assignment" in m) == (str(m["X-Dondoc-Rung"]) not in {"digest", "closed"})
        assert m["Date"].datetime.year in (2020, 2021)
        assert "2550/STTTT-BCTT" in str(m["Subject"])
    assert {item["rung"] for item in timeline} >= {"notice", "reminder", "due-soon", "overdue", "escalation", "report-up", "digest", "closed"}


def test_annual_plan_ladder_when_the_plan_is_never_issued(prefect_server, tmp_path, monkeypatch):
    result = runner.invoke(app, ["simulate", str(SEED), "--from", "2020-11-30T09:00+07:00", "--until", "2021-02-26",
                                 "--maildir", str(tmp_path / "maildir"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    sent = ladder(read_messages(tmp_path / "maildir"))["annual-plan"]
    assert sent["reminder"] == [date(2021, 1, 22)] and sent["due-soon"] == [date(2021, 1, 28)]
    assert sent["overdue"] == [date(2021, 2, 1)] and sent["escalation"] == [date(2021, 2, 3)]
    assert sent["report-up"] == [date(2021, 2, 5), date(2021, 2, 19), date(2021, 2, 26)]


def test_bad_responses_file_is_refused_with_its_lines(prefect_server, tmp_path):
    bad = tmp_path / "responses.yaml"
    bad.write_text("- {on: 2020-12-28, assignment: permit-review, status: finished}\n"
                   "- {on: 2020-12-28, assignment: nowhere, status: done}\n"
                   "- {on: 2019-01-01, assignment: permit-review, status: done}\n", encoding="utf-8")
    result = runner.invoke(app, ["simulate", str(SEED), "--from", "2020-11-30T09:00+07:00", "--until", "2021-02-26",
                                 "--responses", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1: [0].status" in result.stderr and f"{bad}:2: [1].assignment" in result.stderr
    assert f"{bad}:3: [2].on" in result.stderr


def test_demo_writes_messages_timeline_and_database(prefect_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--output", str(tmp_path / "demo")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    svg = (tmp_path / "demo" / "timeline.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "industrial-park-access" in svg and "kết thúc" in svg
    assert "G = giao nhiệm vụ" in svg and "= notice" not in svg  # a Vietnamese legend
    assert len(list((tmp_path / "demo" / "maildir" / "new").iterdir())) > 20
    assert "Prefect UI" in result.stdout and "maildir" in result.stdout
    summary = next(line for line in result.stdout.splitlines() if line.startswith("Tổng số thư:"))
    assert "đề nghị gia hạn 1" in summary and "báo cáo Văn phòng UBND tỉnh" in summary  # Vietnamese, capitals kept
    assert "extension-" not in summary
    assert "industrial-park-access: đã hủy" in result.stdout and "permit-review · hoàn thành" in result.stdout
