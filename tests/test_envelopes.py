"""How a row is split into messages, and how their outcomes settle the row: plain functions."""

from __future__ import annotations

from models.lifecycle.deliveries import delivered, failures, reopen
from notifications.envelopes import Envelope, earlier, settle, settled, split
from notifications.recipients import Person
from notifications.smtp import Outcome

KEY = "2550-stttt-bctt/industrial-park-access/notice/2020-11-30"
ROW_ID = "<notice.20201130.industrial-park-access.2550-stttt-bctt@longan.example.com>"
SCT = Person("Sở Công Thương", "sct@longan.example.com", "sct")
BQL = Person("Ban Quản lý Khu Kinh tế", "bqlkkt@longan.example.com", "bqlkkt")
KCN = Person("Các chủ đầu tư hạ tầng", "kcn-investors@longan.example.com", "kcn-investors")
SCT_HEAD = Person("Giám đốc Sở Công Thương", "giamdoc.sct@longan.example.com", "sct", head=True)
VP = Person("Văn phòng UBND tỉnh", "vanphong.ubnd@longan.example.com", "vp-ubnd")


def test_each_lead_alone_then_one_copy_for_the_rest():
    envelopes = split([SCT, BQL], [KCN], leads=["sct", "bqlkkt"], key=KEY, message_id=ROW_ID)
    assert [(e.lead, e.to, e.cc) for e in envelopes] == [("sct", [SCT], []), ("bqlkkt", [BQL], []), (None, [KCN], [])]
    assert [e.message_id for e in envelopes] == [
        "<notice.20201130.industrial-park-access.2550-stttt-bctt.sct@longan.example.com>",
        "<notice.20201130.industrial-park-access.2550-stttt-bctt.bqlkkt@longan.example.com>",
        ROW_ID,
    ]


def test_heads_and_other_addressees_are_never_a_lead_envelope():
    # overdue: To the leads, Cc their heads; the heads' copy has them in To.
    envelopes = split([SCT], [SCT_HEAD], leads=["sct"], key=KEY, message_id=ROW_ID)
    assert [(e.lead, e.to, e.cc) for e in envelopes] == [("sct", [SCT], []), (None, [SCT_HEAD], [])]
    # A custom rung To the leads and the provincial office: the office keeps To, the Cc stays Cc, in the copy.
    envelopes = split([SCT, VP], [SCT_HEAD], leads=["sct"], key=KEY, message_id=ROW_ID)
    assert [(e.lead, e.to, e.cc) for e in envelopes] == [("sct", [SCT], []), (None, [VP], [SCT_HEAD])]
    # Leads named only in Cc (a custom rung) are not sent a message of their own, and so never a link.
    envelopes = split([SCT_HEAD], [SCT], leads=["sct"], key=KEY, message_id=ROW_ID)
    assert [(e.lead, e.to, e.cc, e.message_id) for e in envelopes] == [(None, [SCT_HEAD], [SCT], ROW_ID)]


def test_a_row_without_leads_is_one_message_as_before():
    envelopes = split([VP], [SCT_HEAD], leads=[], key=KEY, message_id=ROW_ID)
    assert [(e.lead, e.to, e.cc, e.message_id) for e in envelopes] == [(None, [VP], [SCT_HEAD], ROW_ID)]
    assert split([], [], leads=["sct"], key=KEY, message_id=ROW_ID) == []


def three() -> list[Envelope]:
    return split([SCT, BQL], [KCN], leads=["sct", "bqlkkt"], key=KEY, message_id=ROW_ID)


def test_the_row_is_sent_once_every_envelope_is():
    envelopes = three()
    result = settle(envelopes, {}, [(e, Outcome("sent")) for e in envelopes])
    assert result.state == "sent" and result.error is None and result.refused == {}
    assert [(r["delivered"], r["failed"]) for r in result.envelopes] == [([SCT.email], []), ([BQL.email], []),
                                                                        ([KCN.email], [])]
    assert [(r["lead"], r["state"], r["to"]) for r in result.envelopes] == [
        ("sct", "sent", ["sct@longan.example.com"]), ("bqlkkt", "sent", ["bqlkkt@longan.example.com"]),
        (None, "sent", ["kcn-investors@longan.example.com"])]


def test_a_transient_failure_waits_and_the_next_attempt_sends_only_what_is_owed():
    envelopes = three()
    first = settle(envelopes, {}, [(envelopes[0], Outcome("sent")), (envelopes[1], Outcome("retry", "421 try later")),
                                   (envelopes[2], Outcome("sent"))])
    assert first.state == "retry" and first.error == "421 try later"
    done = settled({"envelopes": first.envelopes})
    assert set(done) == {envelopes[0].message_id, envelopes[2].message_id}
    second = settle(envelopes, done, [(envelopes[1], Outcome("sent"))])
    assert second.state == "sent"
    assert [r["state"] for r in second.envelopes] == ["sent", "sent", "sent"]


def test_a_permanent_refusal_fails_the_row_naming_the_address_and_waits_for_the_transient_first():
    envelopes = three()
    mixed = settle(envelopes, {}, [(envelopes[0], Outcome("failed", "máy chủ thư trả lời 554 rejected")),
                                   (envelopes[1], Outcome("retry", "timeout")), (envelopes[2], Outcome("sent"))])
    assert mixed.state == "retry"  # the co-lead still owed gets its chance; the refused one is not sent again
    after = settle(envelopes, settled({"envelopes": mixed.envelopes}), [(envelopes[1], Outcome("sent"))])
    assert after.state == "failed" and after.error == "sct@longan.example.com: máy chủ thư trả lời 554 rejected"
    refused = settle(envelopes, {}, [(envelopes[0], Outcome("sent")), (envelopes[1], Outcome(
        "failed", "máy chủ thư từ chối người nhận: bqlkkt@longan.example.com: 550 no such user")),
        (envelopes[2], Outcome("sent"))])
    assert refused.state == "failed"
    assert refused.error == "máy chủ thư từ chối người nhận: bqlkkt@longan.example.com: 550 no such user"


def test_a_recipient_refused_for_good_fails_that_delivery_though_the_message_reached_the_others():
    copy = split([VP], [SCT_HEAD], leads=[], key=KEY, message_id=ROW_ID)
    result = settle(copy, {}, [(copy[0], Outcome("sent", refused={SCT_HEAD.email: "550 x"}))])
    assert result.state == "failed" and result.refused == {SCT_HEAD.email: "550 x"}
    assert result.error == "giamdoc.sct@longan.example.com: 550 x"
    (record,) = result.envelopes
    assert record["state"] == "failed" and record["delivered"] == [VP.email]
    assert record["failed"] == [{"address": SCT_HEAD.email, "agency": "sct", "head": True, "error": "550 x"}]

    # The next attempt does not send it again; re-queued, it goes to the refused address alone.
    again = split([VP], [SCT_HEAD], leads=[], key=KEY, message_id=ROW_ID, earlier=earlier({"envelopes": [record]}))
    assert not again[0].owed
    reopened = reopen({"envelopes": [record]})
    again = split([VP], [SCT_HEAD], leads=[], key=KEY, message_id=ROW_ID, earlier=earlier(reopened))
    assert again[0].owed and again[0].addresses == [SCT_HEAD.email]
    done = settle(again, earlier(reopened), [(again[0], Outcome("sent"))])
    assert done.state == "sent" and done.envelopes[0]["delivered"] == [VP.email, SCT_HEAD.email]


def test_a_4xx_for_one_recipient_waits_and_the_next_attempt_sends_to_that_one_only():
    copy = split([VP, KCN], [], leads=[], key=KEY, message_id=ROW_ID)
    first = settle(copy, {}, [(copy[0], Outcome("sent", refused={KCN.email: "451 later"}))])
    assert first.state == "retry" and first.error == "kcn-investors@longan.example.com: 451 later"
    again = split([VP, KCN], [], leads=[], key=KEY, message_id=ROW_ID, earlier=earlier({"envelopes": first.envelopes}))
    assert again[0].owed and again[0].addresses == [KCN.email]


def test_a_mixed_refusal_fails_the_5xx_at_once_and_retries_the_4xx():
    copy = split([VP, KCN], [], leads=[], key=KEY, message_id=ROW_ID)
    refused = {VP.email: "550 no such user", KCN.email: "452 mailbox full"}
    first = settle(copy, {}, [(copy[0], Outcome("retry", "máy chủ thư từ chối người nhận", refused))])
    assert first.state == "retry" and [f["address"] for f in first.envelopes[0]["failed"]] == [VP.email]
    again = split([VP, KCN], [], leads=[], key=KEY, message_id=ROW_ID, earlier=earlier({"envelopes": first.envelopes}))
    assert again[0].addresses == [KCN.email]
    last = settle(again, earlier({"envelopes": first.envelopes}), [(again[0], Outcome("sent"))])
    assert last.state == "failed" and last.error == "vanphong.ubnd@longan.example.com: 550 no such user"


def test_re_queuing_by_address_leaves_the_other_failed_deliveries_failed():
    copy = split([VP, KCN], [SCT_HEAD], leads=[], key=KEY, message_id=ROW_ID)
    result = settle(copy, {}, [(copy[0], Outcome("failed", "x", {VP.email: "550 a", KCN.email: "550 b",
                                                                 SCT_HEAD.email: "550 c"}))])
    recipients = {"envelopes": result.envelopes}
    assert [f["address"] for f in failures(recipients)] == [VP.email, KCN.email, SCT_HEAD.email]
    assert reopen(recipients, addresses={"nobody@longan.example.com"}) is None
    reopened = reopen(recipients, addresses={KCN.email.upper()})
    assert [f["address"] for f in reopened["envelopes"][0]["failed"]] == [VP.email, SCT_HEAD.email]
    assert recipients["envelopes"][0]["state"] == "failed"  # the row's own record is not changed in place
    moved = Person(KCN.name, "vanthu.kcn@longan.example.com", "kcn-investors")  # the corrected address
    again = split([VP, moved], [SCT_HEAD], leads=[], key=KEY, message_id=ROW_ID, earlier=earlier(reopened))
    assert again[0].addresses == [moved.email]
    done = settle(again, earlier(reopened), [(again[0], Outcome("sent"))])
    assert done.state == "failed" and [f["address"] for f in failures({"envelopes": done.envelopes})] == [
        VP.email, SCT_HEAD.email]
    assert delivered({"envelopes": done.envelopes}) == 1


def test_the_campaign_check_itself_catches_a_link_in_another_agency_s_mailbox():
    """tests/linkcheck.py backs the whole-campaign test: it must see a leak when there is one."""
    from datetime import datetime
    from email import message_from_string, policy
    from zoneinfo import ZoneInfo

    from models.calendar.timerules import TimeRules
    from notifications.links import ReplyLinks
    from tests.conftest import REGISTRY
    from tests.linkcheck import foreign_links

    links = ReplyLinks(secret="s" * 40, public_url="https://dondoc.example", days=60, rules=TimeRules())
    sent = datetime(2020, 11, 30, 9, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    token, _ = links.token(assignment_id=4, agency="sct", slug="2550-stttt-bctt", key="industrial-park-access", now=sent)

    def message(to: str, cc: str | None = None):
        head = f"To: {to}\n" + (f"Cc: {cc}\n" if cc else "")
        return message_from_string(
            f"{head}Date: Mon, 30 Nov 2020 09:00:00 +0700\nMessage-ID: <m@x>\nX-Dondoc-Assignment: industrial-park-access\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{links.page('2550-stttt-bctt', 'industrial-park-access', token)}\n",
            policy=policy.default)

    assert foreign_links([message(SCT.email)], links, REGISTRY) == []
    assert foreign_links([message(KCN.email)], links, REGISTRY) == [
        "<m@x>: kcn-investors@longan.example.com (kcn-investors) got sct's link"]
    assert len(foreign_links([message(SCT.email, cc=SCT_HEAD.email)], links, REGISTRY)) == 2  # two people, a head
