"""The outbox against a real database and a real aiosmtpd server: nothing twice, nothing lost."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.store.db import open_database, transaction
from models.lifecycle.launch import launch_directive
from models.lifecycle.ladder import message_id_for
from models.definition.loader import load_directive_file
from models.lifecycle.planning import plan_digests
from models.settings import get_settings
from models.store.tables import Notification
from models.calendar.timerules import TimeRules
from models.lifecycle.updates import extend_assignment, record_update
from notifications.dispatch import dispatch_batch
from notifications import outbox
from notifications.links import ReplyLinks
from tests.conftest import REGISTRY, SEED
from tests.linkcheck import foreign_links, link_agency, links_in, recipients, texts

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
SLUG = "2550-stttt-bctt"


def at(y, m, d, h=8, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=TZ)


def launch(path=SEED, now=at(2020, 11, 30, 9), ack_within: int = 0):
    """Launch the seed. These tests (and test_catchup's, test_undelivered's) are about the outbox's machinery on
    the seed's ladder: without the acknowledgement rule (tests/test_acknowledgement.py; the seed's whole campaign
    with it in test_simulate.py), which would add a row per lead to every count they make."""
    import dataclasses

    loaded = load_directive_file(path)
    loaded = dataclasses.replace(loaded, directive=loaded.directive.model_copy(update={"ack_within": ack_within}))
    with transaction() as session:
        launch_directive(session, loaded=loaded, now=now, rules=RULES, actor="t")


def sweep(now, links=None):
    settings = get_settings()
    with transaction() as session:
        outbox.tidy(session, now=now)
        outbox.skip_superseded(session, now=now, rules=RULES)
        plan_digests(session, now=now, rules=RULES, domain="localhost")
    total = {"sent": 0, "failed": 0, "retrying": 0}
    while True:
        result = dispatch_batch(open_database(settings.database_url), now=now, settings=settings, rules=RULES,
                                links=links)
        for k, v in result.counts.items():
            total[k] += v
        if result.claimed < settings.batch_size:
            return total


def rows(**where):
    with transaction() as session:
        query = select(Notification)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return session.exec(query.order_by(Notification.due_at, Notification.id)).all()


def headers(messages, name):
    return [str(m[name]) for m in messages]


# The seed's five notices go out as ten messages: one to each lead agency, carrying its own link, and one copy
# to the supporting agencies (industrial-park-access has two leads; land-use-conversion has no supporting agency).
NOTICE_MESSAGES = 10


def test_launch_plans_each_assignment_ladder_in_the_same_transaction(database):
    launch(ack_within=1)
    planned = rows(state="pending")
    assert len([r for r in planned if r.rung == "notice"]) == 5
    assert {r.rung for r in planned} == {"notice", "unacknowledged", "reminder", "due-soon", "overdue", "escalation",
                                         "report-up"}
    assert len([r for r in planned if r.rung == "unacknowledged"]) == 6  # one per lead (industrial-park-access: two)
    assert len({r.key for r in planned}) == len(planned) and len({r.message_id for r in planned}) == len(planned)


def test_a_refused_launch_plans_nothing(database):
    launch()
    with pytest.raises(Exception), transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=at(2020, 12, 1), rules=RULES, actor="t")
    assert len(rows(rung="notice")) == 5


def test_same_sweep_twice_sends_nothing_twice(database, smtp):
    launch()
    first = sweep(at(2020, 11, 30, 9, 5))
    second = sweep(at(2020, 11, 30, 9, 5))
    assert first["sent"] == 5 and second["sent"] == 0
    messages = smtp.messages()
    assert len(messages) == NOTICE_MESSAGES and len(set(headers(messages, "Message-ID"))) == NOTICE_MESSAGES


def test_headers_and_date_follow_the_sweep_clock(database, smtp):
    launch()
    sweep(at(2020, 11, 30, 9, 5))
    message = next(m for m in smtp.messages() if str(m["X-Dondoc-Assignment"]) == "permit-review"
                   and str(m["To"]) == "Sở Xây dựng <sxd@longan.example.com>")
    assert str(message["X-Dondoc-Directive"]) == SLUG
    assert str(message["X-Dondoc-Rung"]) == "notice"
    assert message["Date"].datetime == at(2020, 11, 30, 9, 5)
    assert "2550/STTTT-BCTT" in str(message["Subject"]) and "Rà soát vướng mắc" in str(message["Subject"])
    text = message.get_body(("plain",)).get_content()
    for words in ("Kính gửi: Sở Xây dựng", "Quý Sở", "Thứ Năm, ngày 31/12/2020", "ngày làm việc",
                  "văn bản số 2550/STTTT-BCTT ngày 30/11/2020", "KT. GIÁM ĐỐC", "Hồ Văn Dân", "những những khó khăn"):
        assert words in text, words
    calendars = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1 and "DTSTART;VALUE=DATE:20201231" in calendars[0].get_content()


def test_smtp_down_loses_nothing_and_the_next_sweep_sends_all(database, smtp, monkeypatch):
    launch()
    smtp.stop()
    down = sweep(at(2020, 11, 30, 9, 5))
    assert down == {"sent": 0, "failed": 0, "retrying": 5}
    assert all(r.state == "pending" and r.last_error for r in rows(rung="notice"))
    smtp.start()
    later = sweep(at(2020, 11, 30, 10, 0))
    assert later["sent"] == 5 and len(smtp.messages()) == NOTICE_MESSAGES


def test_421_then_recovery_is_retried(database, smtp):
    launch()
    smtp.faults.data_replies[:] = ["421 4.3.2 Service not available, try later", "451 4.3.0 Local error"]
    first = sweep(at(2020, 11, 30, 9, 5))
    # The first two messages to reach the server are refused: one row's two, or one each of two rows.
    assert first["retrying"] in (1, 2) and first["sent"] == 5 - first["retrying"]
    second = sweep(at(2020, 11, 30, 9, 30))
    assert second["sent"] == first["retrying"]
    # The retry sends only what was refused: no message arrives twice.
    arrivals = smtp.controller.handler.arrivals
    assert len(arrivals) == len(set(arrivals)) == NOTICE_MESSAGES


def test_550_for_one_recipient_fails_the_rows_addressed_to_it_only(database, smtp):
    launch()
    smtp.faults.refuse["stnmt@longan.example.com"] = "550 5.1.1 No such user"
    result = sweep(at(2020, 11, 30, 9, 5))
    # stnmt leads land-use-conversion and supports annual-plan, whose copy reached the seven others all the same.
    assert result == {"sent": 3, "failed": 2, "retrying": 0}
    failed = rows(state="failed")
    assert [r.key.split("/")[1] for r in failed] == ["land-use-conversion", "annual-plan"]
    assert all("stnmt@longan.example.com: 550" in r.last_error for r in failed)
    # The coordinator is told: the next digest lists the failure.
    sweep(at(2020, 12, 1, 8, 0))
    digest = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "digest")
    assert "550" in digest.get_body(("plain",)).get_content()


def test_response_before_a_rung_cancels_it(database, smtp):
    launch()
    with transaction() as session:
        record_update(session, slug=SLUG, key="permit-review", status="done", now=at(2020, 12, 23, 15),
                      rules=RULES, actor="sxd", evidence="15/SXD-QLXD")
    sweep(at(2020, 12, 24, 8, 0))
    reminders = [m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "reminder"]
    assert {str(m["X-Dondoc-Assignment"]) for m in reminders} == {"land-use-conversion", "industrial-park-access", "network-transition"}
    assert all(r.state == "cancelled" for r in rows() if r.rung != "notice" and r.key.split("/")[1] == "permit-review")


def test_extension_replans_the_ladder(database):
    launch()
    with transaction() as session:
        extend_assignment(session, slug=SLUG, key="network-transition", until=date(2021, 1, 15), reason="Chờ Bộ",
                          now=at(2020, 12, 22, 10), rules=RULES, actor="c")
    live = {r.rung: r.on for r in rows(state="pending") if "/network-transition/" in r.key}
    assert live["reminder"] == date(2021, 1, 8) and live["overdue"] == date(2021, 1, 18)
    cancelled = [r for r in rows(state="cancelled") if "/network-transition/" in r.key]
    assert {r.on for r in cancelled if r.rung == "reminder"} == {date(2020, 12, 24)}


def test_closed_directive_sends_only_its_closing_notice(database, smtp):
    launch()
    sweep(at(2020, 11, 30, 9, 5))
    with transaction() as session:
        record_update(session, slug=SLUG, key="annual-plan", status="done", now=at(2020, 12, 2, 10),
                      rules=RULES, actor="stttt", evidence="1/KH-STTTT")
    sweep(at(2021, 1, 8, 8, 0))
    rungs = headers(smtp.messages(), "X-Dondoc-Rung")
    assert rungs.count("closed") == 1 and rungs.count("notice") == NOTICE_MESSAGES and set(rungs) == {"notice", "closed"}
    closed = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "closed")
    assert "X-Dondoc-Assignment" not in closed
    assert "sxd@longan.example.com" in str(closed["To"])


def test_repeating_report_up_is_planned_one_at_a_time(database, smtp):
    launch()
    for day in (date(2021, 1, 8), date(2021, 1, 15)):
        sweep(datetime.combine(day, datetime.min.time().replace(hour=8), tzinfo=TZ))
    reports = [r for r in rows(rung="report-up") if "/permit-review/" in r.key]
    assert [(r.on, r.state) for r in reports] == [
        (date(2021, 1, 8), "sent"), (date(2021, 1, 15), "sent"), (date(2021, 1, 22), "pending")]


def test_one_digest_per_working_day(database, smtp):
    launch()
    for moment in (at(2020, 12, 1, 8), at(2020, 12, 1, 8, 15), at(2020, 12, 5, 8)):  # 05/12 is a Saturday
        sweep(moment)
    assert headers(smtp.messages(), "X-Dondoc-Rung").count("digest") == 1


def test_html_is_escaped_and_headers_never_split(database, smtp, workspace):
    from models.store.tables import Assignment

    evil = workspace / "evil.yaml"
    text = SEED.read_text(encoding="utf-8").replace(
        "title: Rà soát vướng mắc trong cấp phép xây dựng trạm BTS", 'title: "<script>alert(1)</script>"')
    evil.write_text(text, encoding="utf-8")
    launch(evil)
    with transaction() as session:  # a definition refuses CR LF in a title now; an older row may still hold one
        permit = session.exec(select(Assignment).where(Assignment.key == "permit-review")).one()
        permit.title += "\r\nBcc: victim@example.org"
        session.add(permit)
    sweep(at(2020, 11, 30, 9, 5))
    sweep(at(2020, 12, 1, 8, 0))  # the digest lists every title too
    for message in smtp.messages():
        assert "Bcc" not in message and "victim@example.org" not in str(message["To"])
        for name, value in message.items():
            assert "\r" not in str(value) and "\n" not in str(value), name
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html
    target = next(m for m in smtp.messages() if str(m["X-Dondoc-Assignment"]) == "permit-review")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in target.get_body(("html",)).get_content()
    assert str(target["Subject"]).startswith("[2550/STTTT-BCTT] Giao nhiệm vụ: <script>alert(1)</script> Bcc: victim@example.org")


def test_recipients_are_resolved_when_sent(database, smtp, workspace):
    launch()
    registry = workspace / "agencies" / "long-an.yaml"
    registry.write_text(registry.read_text(encoding="utf-8").replace("sxd@longan.example.com", "vanthu.sxd@longan.example.com"),
                        encoding="utf-8")
    from models.lifecycle.launch import upsert_registry
    from models.definition.loader import load_registry

    with transaction() as session:
        upsert_registry(session, registry=load_registry(registry), source=str(registry), now=at(2020, 11, 30, 9, 1))
    sweep(at(2020, 11, 30, 9, 5))
    permit = next(m for m in smtp.messages() if str(m["X-Dondoc-Assignment"]) == "permit-review")
    assert "vanthu.sxd@longan.example.com" in str(permit["To"])
    row = next(r for r in rows(rung="notice") if "/permit-review/" in r.key)
    assert row.recipients["to"] == ["vanthu.sxd@longan.example.com"]


PARK = "industrial-park-access"  # the seed's assignment with two lead agencies, sct and bqlkkt
SCT, BQL, KCN = "sct@longan.example.com", "bqlkkt@longan.example.com", "kcn-investors@longan.example.com"


def about(messages, key, rung):
    return [m for m in messages if str(m["X-Dondoc-Assignment"]) == key and str(m["X-Dondoc-Rung"]) == rung]


def test_co_leads_get_a_message_each_with_only_their_own_link_and_the_copies_none(database, smtp):
    launch()
    links = ReplyLinks.from_settings(get_settings())
    sweep(at(2020, 11, 30, 9, 5), links=links)
    notices = {tuple(recipients(m)): m for m in about(smtp.messages(), PARK, "notice")}
    assert set(notices) == {(SCT,), (BQL,), (KCN,)}  # three messages, each To one address, none Cc
    row = next(r for r in rows(rung="notice") if f"/{PARK}/" in r.key)
    for code, address in (("sct", SCT), ("bqlkkt", BQL)):
        mine = notices[(address,)]
        assert mine["Cc"] is None and str(mine["Message-ID"]) == message_id_for(row.key, "localhost", code)
        found = links_in(mine)
        assert len(found) == 2  # the plain text's and the HTML's, both this agency's
        assert {link_agency(links, mine, *link) for link in found} == {code}
    copy = notices[(KCN,)]
    assert str(copy["Message-ID"]) == row.message_id
    assert links_in(copy) == [] and not any("?t=" in text for text in texts(copy))
    body = copy.get_body(("plain",)).get_content()
    assert "Mỗi đơn vị chủ trì (Sở Công Thương; Ban Quản lý Khu Kinh tế) đã nhận đường dẫn phản hồi" in body
    assert [(e["lead"], e["link"], e["to"], e["cc"], e["state"]) for e in row.recipients["envelopes"]] == [
        ("sct", True, [SCT], [], "sent"), ("bqlkkt", True, [BQL], [], "sent"), (None, False, [KCN], [], "sent")]

    # The overdue rung goes To the leads, Cc their heads: each lead alone, the heads one copy without a link.
    sweep(at(2021, 1, 4, 8, 0), links=links)
    overdue = {tuple(recipients(m)): m for m in about(smtp.messages(), PARK, "overdue")}
    heads = ("giamdoc.sct@longan.example.com", "truongban.bqlkkt@longan.example.com")
    assert set(overdue) == {(SCT,), (BQL,), heads}
    assert links_in(overdue[heads]) == [] and "đã nhận đường dẫn phản hồi" in overdue[heads].get_body(("plain",)).get_content()
    assert foreign_links(smtp.messages(), links, REGISTRY) == []


def test_a_co_lead_refused_for_good_fails_the_row_naming_it_while_the_others_arrive(database, smtp):
    launch()
    smtp.faults.refuse[BQL] = "550 5.1.1 No such user"
    result = sweep(at(2020, 11, 30, 9, 5), links=ReplyLinks.from_settings(get_settings()))
    assert result == {"sent": 3, "failed": 2, "retrying": 0}  # bqlkkt also supports annual-plan: that copy failed for it
    row = next(r for r in rows(rung="notice") if f"/{PARK}/" in r.key)
    assert row.state == "failed" and BQL in row.last_error and "550" in row.last_error
    assert [e["state"] for e in row.recipients["envelopes"]] == ["sent", "failed", "sent"]
    assert {recipients(m)[0] for m in about(smtp.messages(), PARK, "notice")} == {SCT, KCN}


def test_a_transient_failure_of_one_message_resends_only_that_one_with_its_message_id(database, smtp):
    launch()
    smtp.faults.refuse[KCN] = "451 4.3.0 Try again later"
    first = sweep(at(2020, 11, 30, 9, 5))
    assert first == {"sent": 4, "failed": 0, "retrying": 1}
    row = next(r for r in rows(rung="notice") if f"/{PARK}/" in r.key)
    assert row.state == "pending" and KCN in row.last_error
    assert [e["state"] for e in row.recipients["envelopes"]] == ["sent", "sent", "retry"]
    del smtp.faults.refuse[KCN]
    second = sweep(at(2020, 11, 30, 9, 10))
    assert second == {"sent": 1, "failed": 0, "retrying": 0}
    arrivals = smtp.controller.handler.arrivals
    assert len(arrivals) == len(set(arrivals)) == NOTICE_MESSAGES and arrivals[-1] == row.message_id
    assert [e["state"] for e in rows(key=row.key)[0].recipients["envelopes"]] == ["sent", "sent", "sent"]


def test_each_header_is_written_once_and_identifiers_are_never_folded(database, smtp, workspace):
    """A long number and key make every identifier longer than a header line: none is folded, none repeated."""
    from email import message_from_bytes
    from email.parser import BytesHeaderParser

    number = "2550/STTTT-" + "BCTT" * 25
    key = "permit-review-" + "x" * 50  # the longest key a definition allows: 64 characters
    long = workspace / "long.yaml"
    long.write_text(SEED.read_text(encoding="utf-8").replace("number: 2550/STTTT-BCTT", f"number: {number}")
                    .replace("permit-review", key), encoding="utf-8")
    launch(long)
    sweep(at(2020, 11, 30, 9, 5))
    sweep(at(2020, 12, 1, 8, 0))  # the digest: a message without an assignment
    slug = number.lower().replace("/", "-")
    raw = [(smtp.maildir / "new" / name).read_bytes() for name in sorted(p.name for p in (smtp.maildir / "new").iterdir())]
    assert len(raw) == NOTICE_MESSAGES + 1
    ids = set()
    for data in raw:
        head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # the message's own header, before any part's
        names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line and not line[0].isspace()]
        assert len(names) == len(set(names)), sorted(names)
        assert data.count(b"MIME-Version:") == 1  # not in the parts either
        for parsed in (message_from_bytes(data), BytesHeaderParser().parsebytes(data)):  # compat32, as mail clients do
            for name in ("Message-ID", "X-Dondoc-Directive", "X-Dondoc-Rung", "X-Dondoc-Assignment"):
                value = parsed[name]
                if value is not None:
                    assert value == value.strip() and "\n" not in value, (name, value)
            ids.add(parsed["Message-ID"])
        assert parsed["X-Dondoc-Directive"] == (None if parsed["X-Dondoc-Rung"] == "digest" else slug)
        assert f"\r\nMessage-ID: <" in data.decode("ascii", "replace")
    row = next(r for r in rows(rung="notice") if f"/{key}/" in r.key)
    assert len(row.message_id) > 200
    assert {row.message_id, message_id_for(row.key, "localhost", "sxd")} <= ids  # the copy's and the lead's
    assert key in {m["X-Dondoc-Assignment"] for m in map(message_from_bytes, raw)}
