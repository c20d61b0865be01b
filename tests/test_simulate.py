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
from models.calendar.timerules import TimeRules
from notifications.links import ReplyLinks
from tests.conftest import REGISTRY, ROOT, SEED
from tests.linkcheck import foreign_links, link_agency, links_in, recipients

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RESPONSES = ROOT / "directives" / "2550-STTTT-BCTT.responses.yaml"
runner = CliRunner()
SECRET = "the-simulated-campaign-signs-its-reply-links-with-this"


def ladder(messages) -> dict[str, dict[str, list[date]]]:
    """assignment → rung → the local date of each message, from the messages' own headers.

    A rung addressed to lead agencies is one message per lead plus one copy for the others, so a date repeats.
    """
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
                           env={"DONDOC_SECRET_KEY": SECRET}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), read_messages(base / "maildir")


def test_an_assignment_that_never_finishes_climbs_the_ladder_until_the_plan_is_issued(demo_campaign):
    _, messages = demo_campaign
    sent = ladder(messages)["industrial-park-access"]
    assert sent == {  # two lead agencies (sct, bqlkkt): a message each, and a copy when the rung has one
        "notice": [date(2020, 11, 30)] * 3,  # + the supporting agency
        # neither answers by the end of Tuesday 01/12: each is asked on Wednesday, with a copy to the coordinator
        "unacknowledged": [date(2020, 12, 2)] * 4,
        "reminder": [date(2020, 12, 24)] * 2,
        "due-soon": [date(2020, 12, 30)] * 2,
        "overdue": [date(2021, 1, 4)] * 3,  # + their heads
        "escalation": [date(2021, 1, 6)],  # to the heads: one message, no link
        "report-up": [date(2021, 1, 8), date(2021, 1, 15), date(2021, 1, 22)],
    }
    closed = [m for m in messages if str(m["X-Dondoc-Rung"]) == "closed"]
    assert len(closed) == 1 and closed[0]["Date"].datetime == datetime(2021, 1, 28, 16, 0, tzinfo=TZ)
    assert max(m["Date"].datetime for m in messages) == closed[0]["Date"].datetime


def test_on_time_late_and_extended_assignments(demo_campaign):
    _, messages = demo_campaign
    sent = ladder(messages)
    assert set(sent["permit-review"]) == {"notice", "reminder"}  # done on 28/12, before the due-soon rung of 30/12
    # (and acknowledged on 01/12, in time; Sở TN&MT acknowledged on 02/12 at 10:00, after the 08:00 request)
    assert sent["land-use-conversion"]["unacknowledged"] == [date(2020, 12, 2)] * 2
    assert "overdue" in sent["land-use-conversion"] and "report-up" in sent["land-use-conversion"]
    assert sent["network-transition"]["reminder"] == [date(2021, 1, 8)]  # re-planned for the new due date 15/01
    assert sent["network-transition"]["extension-request"] == [date(2020, 12, 22)]
    assert sent["network-transition"]["extension-decision"] == [date(2020, 12, 22)]
    assert "overdue" not in sent["network-transition"]


def test_every_message_carries_the_headers(demo_campaign):
    timeline, messages = demo_campaign
    assert len(timeline) == len(messages)
    for m in messages:
        digest = str(m["X-Dondoc-Rung"]) == "digest"  # the coordinator's digest covers all its directives
        assert str(m["X-Dondoc-Directive"]) == ("None" if digest else "2550-stttt-bctt")
        assert str(m["X-Dondoc-Rung"]) in {"notice", "reminder", "due-soon", "overdue", "escalation", "report-up", "digest",
                                           "closed", "extension-request", "extension-decision", "unacknowledged"}
        assert ("X-Dondoc-Assignment" in m) == (str(m["X-Dondoc-Rung"]) not in {"digest", "closed"})
        assert m["Date"].datetime.year in (2020, 2021)
        assert "2550/STTTT-BCTT" in str(m["Subject"]) or digest
    assert {item["rung"] for item in timeline} >= {"notice", "reminder", "due-soon", "overdue", "escalation", "report-up", "digest", "closed"}


def test_no_recipient_of_a_whole_campaign_ever_gets_a_link_that_is_not_its_own_agency(demo_campaign):
    _, messages = demo_campaign
    links = ReplyLinks(secret=SECRET, public_url="http://127.0.0.1:8080", days=60, rules=TimeRules())
    # Every link in every part of every message, verified as the reply page would, against each recipient's
    # agency in the registry: a message with a link goes To one address, that of the link's own agency.
    assert foreign_links(messages, links, REGISTRY) == []

    # Not vacuous: the leads did get their links, on every rung addressed to them, and the copies went out.
    linked = {(str(m["X-Dondoc-Assignment"]), str(m["X-Dondoc-Rung"]), link_agency(links, m, *link))
              for m in messages for link in links_in(m)}
    assert {("industrial-park-access", "notice", "sct"), ("industrial-park-access", "notice", "bqlkkt"),
            ("industrial-park-access", "overdue", "bqlkkt"), ("network-transition", "extension-decision", "stttt"),
            ("land-use-conversion", "due-soon", "stnmt"), ("annual-plan", "reminder", "stttt")} <= linked
    assert {rung for _, rung, _ in linked} == {"notice", "unacknowledged", "reminder", "due-soon", "overdue",
                                               "extension-decision"}
    unlinked = {address for m in messages if not links_in(m) for address in recipients(m)}
    assert {"viettel@operators.example.com", "kcn-investors@longan.example.com", "giamdoc.sct@longan.example.com",
            "truongban.bqlkkt@longan.example.com", "vanphong.ubnd@longan.example.com"} <= unlinked


def test_annual_plan_ladder_when_the_plan_is_never_issued(prefect_server, tmp_path, monkeypatch):
    result = runner.invoke(app, ["simulate", str(SEED), "--from", "2020-11-30T09:00+07:00", "--until", "2021-02-26",
                                 "--maildir", str(tmp_path / "maildir"), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    sent = ladder(read_messages(tmp_path / "maildir"))["annual-plan"]
    assert sent["reminder"] == [date(2021, 1, 22)] and sent["due-soon"] == [date(2021, 1, 28)]
    assert sent["overdue"] == [date(2021, 2, 1)] * 2 and sent["escalation"] == [date(2021, 2, 3)]  # lead, its head
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
