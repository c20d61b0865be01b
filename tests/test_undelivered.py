"""Messages that did not reach someone, against a real aiosmtpd that refuses them and a real database.

§3: a refused recipient is a failed delivery, shown in `status`, `outbox --state failed` and the digest,
even when the other messages of the row went out. §4: transient failures are retried for a time, and
failed rows are re-queued by `dondoc outbox retry` or by correcting the address in the registry.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from models.store.db import transaction
from models.lifecycle.deliveries import failures
from models.store.tables import Notification
from models.calendar.timerules import TimeRules
from models.lifecycle.updates import record_update
from tests.test_outbox import at, launch, rows, sweep

runner = CliRunner()
SLUG = "2550-stttt-bctt"
SXD = "sxd@longan.example.com"
SUPPORTING = ["viettel@operators.example.com", "vnpt@operators.example.com", "mobifone@operators.example.com",
              "vietnamobile@operators.example.com"]


def dondoc(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def wide(monkeypatch):
    """A terminal wide enough that no table folds an address (through the environment, which Rich reads at each
    print: monkeypatching the shared console's width would leave it fixed at 80 for every later test)."""
    monkeypatch.setenv("COLUMNS", "400")


def row_of(key: str, rung: str = "notice") -> Notification:
    return next(r for r in rows(rung=rung) if f"/{key}/" in r.key)


def test_a_refused_agency_is_a_failed_delivery_shown_everywhere_though_the_others_got_theirs(database, smtp, wide):
    """Sở Xây dựng refuses (550): it leads permit-review and supports annual-plan, whose copy reaches seven others."""
    launch()
    smtp.faults.refuse[SXD] = "550 5.1.1 No such user"
    assert sweep(at(2020, 11, 30, 9, 5)) == {"sent": 3, "failed": 2, "retrying": 0}

    plan = row_of("annual-plan")
    assert plan.state == "failed" and SXD in plan.last_error and "550" in plan.last_error
    lead, copy = plan.recipients["envelopes"]
    assert lead["state"] == "sent" and lead["delivered"] == ["stttt@longan.example.com"]
    assert copy["state"] == "failed" and SXD in copy["to"]
    assert copy["delivered"] == [a for a in copy["to"] if a != SXD]  # the others have it: never sent to them again
    assert [(f["address"], f["agency"], f["head"]) for f in copy["failed"]] == [(SXD, "sxd", False)]
    assert row_of("permit-review").state == "failed"

    # outbox --state failed: both rows, each naming the one delivery that failed.
    failed = {item["assignment"]: item for item in json.loads(dondoc("outbox", "--state", "failed", "--json").stdout)}
    assert set(failed) == {"permit-review", "annual-plan"}
    for item in failed.values():
        assert [(d["address"], d["agency"]) for d in item["failed_deliveries"]] == [(SXD, "sxd")]
    assert failed["annual-plan"]["delivered"] == 1 + 7 and failed["permit-review"]["delivered"] == 4
    table = dondoc("outbox", "--state", "failed")
    assert table.exit_code == 0 and f"lỗi: không gửi được đến {SXD}: 550 5.1.1 No such user; đã gửi đến 8 địa chỉ khác" in table.stdout

    # status: the lead is unreachable, in the JSON and in the table, in Vietnamese.
    status = {r["key"]: r for r in json.loads(dondoc("status", SLUG, "--json", "--now", "2020-11-30T10:00+07:00").stdout)}
    assert [(u["agency"], u["role"], u["address"]) for u in status["permit-review"]["unreachable"]] == [("sxd", "lead", SXD)]
    assert [(u["agency"], u["role"]) for u in status["annual-plan"]["unreachable"]] == [("sxd", "supporting")]
    assert status["network-transition"]["unreachable"] == []
    table = dondoc("status", SLUG, "--now", "2020-11-30T10:00+07:00").stdout
    assert "không nhận được thư" in table and "Không gửi được thư" in table
    overview = json.loads(dondoc("status", "--json", "--now", "2020-11-30T10:00+07:00").stdout)
    assert any(a["unreachable"] for a in overview[0]["assignments"])

    # The next digest to the coordinator names the agency, its address and the reply.
    sweep(at(2020, 12, 1, 8, 0))
    digest = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "digest")
    body = digest.get_body(("plain",)).get_content()
    failures = body.split("THƯ KHÔNG GỬI ĐƯỢC")[1]
    assert "Sở Xây dựng" in failures and SXD in failures and "550" in failures and "annual-plan" in failures
    # Every message that went out went once.
    assert max(Counter(smtp.controller.handler.arrivals).values()) == 1


# §4 — the retry window, as a plain function of the first attempt, the attempt count, now and the setting.

T0 = at(2020, 11, 30, 9, 5)


def test_the_backoff_steps_then_every_hour_within_the_window():
    from models.lifecycle.retry import next_attempt

    steps = [next_attempt(first_attempt=T0, attempts=n, now=T0, hours=96) - T0 for n in range(1, 8)]
    assert [s.total_seconds() / 60 for s in steps] == [1, 5, 15, 30, 60, 60, 60]


def test_the_window_is_a_time_not_a_count():
    from models.lifecycle.retry import next_attempt

    # A weekend outage: the 80th attempt after 3 days is still retried.
    assert next_attempt(first_attempt=T0, attempts=80, now=T0 + timedelta(hours=72), hours=96) == T0 + timedelta(hours=73)
    # The last attempt falls when the window ends, and if that one fails the row fails.
    assert next_attempt(first_attempt=T0, attempts=95, now=T0 + timedelta(hours=95, minutes=30), hours=96) == \
        T0 + timedelta(hours=96)
    assert next_attempt(first_attempt=T0, attempts=96, now=T0 + timedelta(hours=96), hours=96) is None
    assert next_attempt(first_attempt=T0, attempts=2, now=T0 + timedelta(hours=25), hours=24) is None


def test_a_superseded_rung_ends_its_window_early():
    """The hook catch-up uses: the window ends when a later rung supersedes the message."""
    from models.lifecycle.retry import next_attempt, retry_deadline

    later = T0 + timedelta(hours=20)
    assert retry_deadline(T0, hours=96, superseded_at=later) == later
    assert next_attempt(first_attempt=T0, attempts=9, now=T0 + timedelta(hours=19, minutes=30), hours=96,
                        superseded_at=later) == later
    assert next_attempt(first_attempt=T0, attempts=10, now=later, hours=96, superseded_at=later) is None


def test_retry_hours_is_a_setting_that_replaces_max_attempts(monkeypatch):
    from models.errors import ConfigError
    from models.settings import get_settings

    assert get_settings().retry_hours == 96 and not hasattr(get_settings(), "max_attempts")
    monkeypatch.setenv("DONDOC_RETRY_HOURS", "0")
    with pytest.raises(ConfigError, match="DONDOC_RETRY_HOURS"):
        get_settings()


def test_an_outage_longer_than_a_day_loses_nothing_then_fails_after_the_window_and_retry_requeues(database, smtp):
    launch()
    smtp.stop()
    assert sweep(T0) == {"sent": 0, "failed": 0, "retrying": 5}
    # Two days and a half down (the attempt count does not matter: see the plain tests above).
    # The daily digests join the queue from 01/12 and wait with the rest.
    for hours in (24, 48, 60):
        assert sweep(T0 + timedelta(hours=hours))["failed"] == 0
    notices = rows(rung="notice")
    assert {(r.state, r.attempts, r.first_attempt_at) for r in notices} == {("pending", 4, T0)}
    # Nobody brings the server back: when the 96 hours are spent, the rows fail, naming the window.
    assert sweep(T0 + timedelta(hours=95, minutes=30))["failed"] == 0
    assert sweep(T0 + timedelta(hours=96, minutes=1))["failed"] == 5
    assert {r.state for r in rows(rung="notice")} == {"failed"} and {r.state for r in rows(rung="digest")} == {"pending"}
    assert "trong 96 giờ" in row_of("permit-review").last_error

    # Meanwhile Sở Xây dựng reported permit-review done (by telephone): its notice is not re-sent.
    with transaction() as session:
        record_update(session, slug=SLUG, key="permit-review", status="done", now=at(2020, 12, 4, 9, 0),
                      rules=TimeRules(), actor="sxd")

    smtp.start()
    retried = dondoc("outbox", "retry", SLUG, "--json", "--now", "2020-12-04T10:00+07:00")
    assert retried.exit_code == 0, retried.output
    requeued = [r.key for r in rows(rung="notice") if "/permit-review/" not in r.key]
    assert json.loads(retried.stdout) == {"requeued": 4, "directives": [{"slug": SLUG, "count": 4, "keys": requeued}]}
    again = row_of("network-transition")
    assert again.state == "pending" and again.first_attempt_at is None and again.attempts == 0
    assert row_of("permit-review").state == "failed"
    # The notices, and the digests of 01, 02 and 04/12 (no sweep ran on 03/12), still within their windows.
    assert sweep(at(2020, 12, 4, 10, 30))["sent"] == 4 + 3
    # The very messages, with the Message-IDs they were planned with: the same idempotency key.
    arrivals = smtp.controller.handler.arrivals
    notices = {e["message_id"] for r in rows(rung="notice") if r.key in requeued for e in r.recipients["envelopes"]}
    assert len(notices) == 8 and notices <= set(arrivals) and len(arrivals) == len(set(arrivals)) == 8 + 3
    events = json.loads(dondoc("events", SLUG, "--json").stdout)
    assert [(e["kind"], e["payload"]["count"]) for e in events if e["kind"] == "requeued"] == [("requeued", 4)]
    # The next digest (here: the late ones, sent with the re-queued notices) says so.
    digests = [m.get_body(("plain",)).get_content() for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "digest"]
    assert len(digests) == 3
    assert all("coordinator · đưa lại 4 thư không gửi được vào hàng chờ gửi (dondoc outbox retry)" in d for d in digests)


def test_outbox_retry_answers_in_one_line_and_keeps_the_bare_listing(database, smtp):
    launch()
    nothing = dondoc("outbox", "retry")
    assert nothing.exit_code == 0 and nothing.stdout.strip() == "Không có thư lỗi nào cần gửi lại."
    unknown = runner.invoke(app, ["outbox", "retry", "no-such-directive"])
    assert unknown.exit_code == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "no-such-directive" in unknown.stderr and "Traceback" not in unknown.output
    wrong = runner.invoke(app, ["outbox", "retry", "--state", "sent"])
    assert wrong.exit_code == 2 and len(wrong.stderr.strip().splitlines()) == 1
    # The bare form lists as before: a slug, --state, --json, in any order.
    assert len(json.loads(dondoc("outbox", SLUG, "--json").stdout)) == 30
    assert json.loads(dondoc("outbox", "--state", "failed", "--json").stdout) == []
    assert len(json.loads(dondoc("outbox", "--json", "--state", "pending", SLUG).stdout)) == 30
    for args in (["outbox", "--help"], ["outbox", "retry", "--help"]):
        shown = dondoc(*args)
        assert shown.exit_code == 0 and "Usage" in shown.stdout
    assert "retry" in dondoc("outbox", "--help").stdout and "--state" in dondoc("outbox", "--help").stdout


def test_a_corrected_address_requeues_only_that_agency_s_deliveries_to_the_new_address(database, smtp, workspace):
    launch()
    smtp.faults.refuse[SXD] = "550 5.1.1 No such user"
    smtp.faults.refuse["stnmt@longan.example.com"] = "550 5.1.1 No such user"
    assert sweep(T0) == {"sent": 2, "failed": 3, "retrying": 0}  # permit-review, land-use-conversion, annual-plan
    before = len(smtp.controller.handler.arrivals)

    registry = workspace / "agencies" / "long-an.yaml"
    registry.write_text(registry.read_text(encoding="utf-8").replace(f"email: {SXD}", "email: vanthu.sxd@longan.example.com"), encoding="utf-8")
    reload = runner.invoke(app, ["agencies", str(registry), "--now", "2020-11-30T10:00+07:00", "--by", "chuyenvien"])
    assert reload.exit_code == 0, reload.output
    assert "Đã đưa 2 thư lỗi đến địa chỉ cũ trở lại hàng chờ gửi (2550-stttt-bctt: 2)" in reload.stderr
    assert row_of("land-use-conversion").state == "failed"  # stnmt's address did not change: nothing to re-send
    assert sweep(at(2020, 11, 30, 10, 5)) == {"sent": 1, "failed": 1, "retrying": 0}

    handler = smtp.controller.handler
    again = list(zip(handler.arrivals[before:], handler.envelopes[before:]))
    plan, permit = row_of("annual-plan"), row_of("permit-review")
    # permit-review's lead message, under its own Message-ID; annual-plan's copy, to the new address alone.
    assert sorted(again) == sorted([(permit.recipients["envelopes"][0]["message_id"], ["vanthu.sxd@longan.example.com"]),
                                    (plan.message_id, ["vanthu.sxd@longan.example.com"])])
    assert permit.state == "sent"
    # annual-plan still misses stnmt (refused, address unchanged): it stays failed, for stnmt alone.
    assert plan.state == "failed" and [(f["agency"], f["address"]) for f in failures(plan.recipients)] == [
        ("stnmt", "stnmt@longan.example.com")]
    copy = next(m for m in smtp.messages() if str(m["Message-ID"]) == plan.message_id and
                "vanthu.sxd@longan.example.com" in str(m["To"]))
    assert "stnmt@longan.example.com" in str(copy["To"])  # the same letter: its To names everyone it is for
    events = [e for e in json.loads(dondoc("events", SLUG, "--json").stdout) if e["kind"] == "requeued"]
    assert [(e["actor"], e["payload"]["reason"], e["payload"]["agency"], e["payload"]["count"]) for e in events] == [
        ("chuyenvien", "address", "sxd", 2)]
    status = {r["key"]: r for r in json.loads(dondoc("status", SLUG, "--json", "--now", "2020-11-30T11:00+07:00").stdout)}
    assert status["permit-review"]["unreachable"] == []
    assert [u["agency"] for u in status["land-use-conversion"]["unreachable"]] == ["stnmt"]
    sweep(at(2020, 12, 1, 8, 0))
    digest = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "digest").get_body(("plain",)).get_content()
    assert f"sửa địa chỉ thư của Sở Xây dựng ({SXD} → vanthu.sxd@longan.example.com); đưa lại 2 thư" in digest


def test_a_failed_occurrence_of_a_repeating_rung_still_plans_the_next(database, smtp):
    launch()
    smtp.faults.refuse["vanphong.ubnd@longan.example.com"] = "550 5.1.1 No such user"  # the provincial office
    sweep(at(2021, 1, 8, 8, 0))
    report_ups = rows(rung="report-up")
    # The four assignments due 31/12: each report-up failed, and each series goes on five working days later.
    assert Counter((r.on.isoformat(), r.state) for r in report_ups if r.on.month == 1) == {
        ("2021-01-08", "failed"): 4, ("2021-01-15", "pending"): 4}
