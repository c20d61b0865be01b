"""The reply pages through the real FastAPI app (httpx client, no server process needed)."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from dondoc.web import create_app
from models.db import transaction
from models.launch import launch_directive
from models.loader import load_directive_file
from models.settings import get_settings
from models.tables import Assignment, Event, ExtensionRequest, Notification
from models.timerules import TimeRules
from notifications.links import ReplyLinks
from tests.conftest import SEED

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
LAUNCH = datetime(2020, 11, 30, 9, tzinfo=TZ)
SLUG = "2550-stttt-bctt"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def site(database, tmp_path, monkeypatch):
    monkeypatch.setenv("DONDOC_SECRET_KEY", "test-secret-not-for-production")
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=LAUNCH, rules=RULES, actor="coordinator")
    clock = Clock(datetime(2020, 12, 20, 10, tzinfo=TZ))
    client = TestClient(create_app(clock=clock), follow_redirects=False)
    links = ReplyLinks.from_settings(get_settings())

    def link(key="permit-review", agency="sxd", now=LAUNCH):
        with transaction() as session:
            assignment = session.exec(select(Assignment).where(Assignment.key == key)).one()
        token, _ = links.token(assignment_id=assignment.id, agency=agency, slug=SLUG, key=key, now=now)
        return f"/phan-hoi/{SLUG}/{key}?t={token}", token

    return client, link, clock


def form_tokens(html: str) -> dict:
    return {"t": re.search(r'name="t" value="([^"]+)"', html).group(1),
            "csrf": re.search(r'name="csrf" value="([^"]+)"', html).group(1)}


def events(kind=None):
    with transaction() as session:
        query = select(Event)
        if kind:
            query = query.where(Event.kind == kind)
        return session.exec(query.order_by(Event.id)).all()


def assignment(key):
    with transaction() as session:
        return session.exec(select(Assignment).where(Assignment.key == key)).one()


def test_page_shows_directive_action_due_status_history(site):
    client, link, _ = site
    url, _ = link()
    page = client.get(url)
    assert page.status_code == 200
    for text in ("2550/STTTT-BCTT", "những những khó khăn", "Thứ Năm, ngày 31/12/2020", "Đã giao", "Sở Xây dựng",
                 "Diễn biến", 'name="viewport"'):
        assert text in page.text, text
    assert "<script" not in page.text  # usable without JavaScript


def test_tampered_expired_and_foreign_links_are_refused(site):
    client, link, clock = site
    url, token = link()
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for bad in (tampered, f"/phan-hoi/{SLUG}/permit-review?t=", f"/phan-hoi/{SLUG}/land-use-conversion?t={token}"):
        page = client.get(bad)
        assert page.status_code == 403 and 'id="refusal"' in page.text
    assert "nhiệm vụ khác" in client.get(f"/phan-hoi/{SLUG}/land-use-conversion?t={token}").text
    clock.now = LAUNCH + timedelta(days=61)
    expired = client.get(url)
    assert expired.status_code == 403 and "hết hạn" in expired.text
    supporting_url, _ = link(agency="viettel")  # a supporting agency is not given a reply page
    assert client.get(supporting_url).status_code == 403


def test_forms_need_the_csrf_token_and_cookie(site):
    client, link, _ = site
    url, token = link()
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/permit-review"
    assert client.post(f"{base}/tiep-nhan", data={"t": token}).status_code == 403
    assert client.post(f"{base}/tiep-nhan", data={"t": token, "csrf": tokens["csrf"] + "x"}).status_code == 403
    stranger = TestClient(client.app, follow_redirects=False)  # same form token, no cookie
    assert stranger.post(f"{base}/tiep-nhan", data=tokens).status_code == 403
    assert assignment("permit-review").status == "assigned" and not events("status")


def test_acknowledge_progress_done_with_document(site):
    client, link, clock = site
    url, _ = link()
    base = f"/phan-hoi/{SLUG}/permit-review"
    tokens = form_tokens(client.get(url).text)
    ack = client.post(f"{base}/tiep-nhan", data=tokens)
    assert ack.status_code == 303
    assert "đã tiếp nhận" in client.get(ack.headers["location"]).text
    assert client.post(f"{base}/tien-do", data={**tokens, "note": "Đã họp với doanh nghiệp"}).status_code == 303
    clock.now = datetime(2020, 12, 28, 15, tzinfo=TZ)
    done = client.post(f"{base}/hoan-thanh", data={**tokens, "number": "15/SXD-QLXD", "document_date": "2020-12-25"},
                       files={"document": ("15-SXD-QLXD.pdf", PDF, "application/pdf")})
    assert done.status_code == 303
    row = assignment("permit-review")
    assert (row.status, row.evidence, row.evidence_on, row.done_on) == ("done", "15/SXD-QLXD", date(2020, 12, 25), date(2020, 12, 28))
    trail = events("status")
    assert [e.actor for e in trail] == ["sxd", "sxd", "sxd"]
    document = trail[-1].payload["document"]
    assert document["sha256"] == hashlib.sha256(PDF).hexdigest() and document["size"] == len(PDF)
    assert open(document["path"], "rb").read() == PDF
    page = client.get(url).text
    assert "Hoàn thành" in page and "đã kết thúc theo dõi" in page and 'id="report-done"' not in page


def test_invalid_input_keeps_what_was_typed_and_writes_nothing(site):
    client, link, _ = site
    url, _ = link()
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/permit-review"
    page = client.post(f"{base}/hoan-thanh", data={**tokens, "number": "", "document_date": "2031-01-01",
                                                   "note": "ghi chú <b>đậm</b>"})
    assert page.status_code == 400
    assert "Vui lòng nhập số" in page.text and "không thể sau ngày hôm nay" in page.text
    assert 'value="2031-01-01"' in page.text and "ghi chú &lt;b&gt;đậm&lt;/b&gt;" in page.text
    bad_file = client.post(f"{base}/hoan-thanh", data={**tokens, "number": "15/SXD", "document_date": "2020-12-19"},
                           files={"document": ("virus.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    assert bad_file.status_code == 400 and "không phải là tệp PDF" in bad_file.text
    wrong_kind = client.post(f"{base}/hoan-thanh", data={**tokens, "number": "15/SXD", "document_date": "2020-12-19"},
                             files={"document": ("tool.exe", b"MZ", "application/octet-stream")})
    assert wrong_kind.status_code == 400 and "Chỉ nhận tệp" in wrong_kind.text
    long_note = client.post(f"{base}/tien-do", data={**tokens, "note": "x" * 2001})
    assert long_note.status_code == 400 and "2000" in long_note.text
    assert assignment("permit-review").status == "assigned" and not events("status")


def test_upload_size_is_limited(site, monkeypatch):
    monkeypatch.setenv("DONDOC_UPLOAD_MAX_MB", "0.01")
    client, link, clock = site
    small = TestClient(create_app(clock=clock), follow_redirects=False)
    url, _ = link()
    tokens = form_tokens(small.get(url).text)
    big = b"%PDF-" + b"0" * 20_000
    page = small.post(f"/phan-hoi/{SLUG}/permit-review/hoan-thanh",
                      data={**tokens, "number": "1/SXD", "document_date": "2020-12-19"},
                      files={"document": ("big.pdf", big, "application/pdf")})
    assert page.status_code == 400 and "lớn quá" in page.text
    huge = small.post(f"/phan-hoi/{SLUG}/permit-review/hoan-thanh", content=b"x" * 400_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert huge.status_code == 413
    assert assignment("permit-review").status == "assigned"


def test_extension_request_notifies_the_coordinator(site):
    client, link, _ = site
    url, _ = link("land-use-conversion", "stnmt")
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/land-use-conversion"
    too_early = client.post(f"{base}/gia-han", data={**tokens, "until": "2020-12-30", "reason": "Chờ ý kiến Bộ"})
    assert too_early.status_code == 400 and "phải sau thời hạn hiện tại" in too_early.text
    asked = client.post(f"{base}/gia-han", data={**tokens, "until": "2021-01-15", "reason": "Chờ ý kiến Bộ"})
    assert asked.status_code == 303
    with transaction() as session:
        request = session.exec(select(ExtensionRequest)).one()
        note = session.exec(select(Notification).where(Notification.rung == "extension-request")).one()
    assert (request.state, request.until, request.agency_code) == ("pending", date(2021, 1, 15), "stnmt")
    assert note.to_audience == ["coordinator"] and note.state == "pending"
    assert "đang chờ" in client.get(url).text
    again = client.post(f"{base}/gia-han", data={**tokens, "until": "2021-01-20", "reason": "Lần hai"})
    assert again.status_code == 400  # one pending request at a time; the form is gone, the refusal explains


def test_the_coordinators_digest_reports_agency_actions(site, smtp):
    from models.db import open_database
    from models.planning import plan_digests
    from notifications.dispatch import dispatch_batch

    client, link, _ = site
    url, _ = link("land-use-conversion", "stnmt")
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/land-use-conversion"
    assert client.post(f"{base}/tiep-nhan", data=tokens).status_code == 303
    assert client.post(f"{base}/gia-han", data={**tokens, "until": "2021-01-15", "reason": "Chờ ý kiến Bộ"}).status_code == 303
    morning = datetime(2020, 12, 21, 8, tzinfo=TZ)
    with transaction() as session:
        plan_digests(session, now=morning, rules=RULES, domain="localhost")
    settings = get_settings()
    dispatch_batch(open_database(settings.database_url), now=morning, settings=settings, rules=RULES)
    digest = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "digest")
    text = digest.get_body(("plain",)).get_content()
    assert "stnmt · land-use-conversion: Đã giao → Đã tiếp nhận" in text
    assert "Đề nghị gia hạn đang chờ quyết định" in text and "Chờ ý kiến Bộ" in text
    request = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "extension-request")
    assert "stttt@longan.example.com" in str(request["To"])
