"""The reply pages through the real FastAPI app (httpx client, no server process needed)."""

from __future__ import annotations

import base64
import hashlib
import html as htmlmod
import re
from datetime import date, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from dondoc.web import create_app
from models.store.db import transaction
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.settings import get_settings
from models.store.tables import Assignment, Event, ExtensionRequest, Notification
from models.calendar.timerules import TimeRules
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
    """The link and form tokens, as the page's forms carry them: in the query string of their action."""
    action = htmlmod.unescape(re.search(r'<form method="post" action="([^"]+)"', html).group(1))
    query = dict(parse_qsl(urlsplit(action).query))
    return {"t": query["t"], "csrf": query["csrf"]}


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
    assert client.post(f"{base}/tiep-nhan", params={"t": token}).status_code == 403
    assert client.post(f"{base}/tiep-nhan", params={"t": token, "csrf": tokens["csrf"] + "x"}).status_code == 403
    stranger = TestClient(client.app, follow_redirects=False)  # same form token, no cookie
    assert stranger.post(f"{base}/tiep-nhan", params=tokens).status_code == 403
    assert assignment("permit-review").status == "assigned" and not events("status")


def test_acknowledge_progress_done_with_document(site):
    client, link, clock = site
    url, _ = link()
    base = f"/phan-hoi/{SLUG}/permit-review"
    tokens = form_tokens(client.get(url).text)
    ack = client.post(f"{base}/tiep-nhan", params=tokens)
    assert ack.status_code == 303
    assert "đã tiếp nhận" in client.get(ack.headers["location"]).text
    assert client.post(f"{base}/tien-do", params=tokens, data={"note": "Đã họp với doanh nghiệp"}).status_code == 303
    clock.now = datetime(2020, 12, 28, 15, tzinfo=TZ)
    done = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "15/SXD-QLXD", "document_date": "2020-12-25"},
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
    page = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "", "document_date": "2031-01-01",
                                                   "note": "ghi chú <b>đậm</b>"})
    assert page.status_code == 400
    assert "Vui lòng nhập số" in page.text and "không thể sau ngày hôm nay" in page.text
    assert 'value="2031-01-01"' in page.text and "ghi chú &lt;b&gt;đậm&lt;/b&gt;" in page.text
    bad_file = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "15/SXD", "document_date": "2020-12-19"},
                           files={"document": ("virus.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    assert bad_file.status_code == 400 and "không phải là tệp PDF" in bad_file.text
    wrong_kind = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "15/SXD", "document_date": "2020-12-19"},
                             files={"document": ("tool.exe", b"MZ", "application/octet-stream")})
    assert wrong_kind.status_code == 400 and "Chỉ nhận tệp" in wrong_kind.text
    long_note = client.post(f"{base}/tien-do", params=tokens, data={"note": "x" * 2001})
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
                      params=tokens, data={"number": "1/SXD", "document_date": "2020-12-19"},
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
    too_early = client.post(f"{base}/gia-han", params=tokens, data={"until": "2020-12-30", "reason": "Chờ ý kiến Bộ"})
    assert too_early.status_code == 400 and "phải sau thời hạn hiện tại" in too_early.text
    asked = client.post(f"{base}/gia-han", params=tokens, data={"until": "2021-01-15", "reason": "Chờ ý kiến Bộ"})
    assert asked.status_code == 303
    with transaction() as session:
        request = session.exec(select(ExtensionRequest)).one()
        note = session.exec(select(Notification).where(Notification.rung == "extension-request")).one()
    assert (request.state, request.until, request.agency_code) == ("pending", date(2021, 1, 15), "stnmt")
    assert note.to_audience == ["coordinator"] and note.state == "pending"
    assert "đang chờ" in client.get(url).text
    again = client.post(f"{base}/gia-han", params=tokens, data={"until": "2021-01-20", "reason": "Lần hai"})
    assert again.status_code == 400  # one pending request at a time; the form is gone, the refusal explains


def test_the_coordinators_digest_reports_agency_actions(site, smtp):
    from models.store.db import open_database
    from models.lifecycle.planning import plan_digests
    from notifications.dispatch import dispatch_batch

    client, link, _ = site
    url, _ = link("land-use-conversion", "stnmt")
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/land-use-conversion"
    assert client.post(f"{base}/tiep-nhan", params=tokens).status_code == 303
    assert client.post(f"{base}/gia-han", params=tokens, data={"until": "2021-01-15", "reason": "Chờ ý kiến Bộ"}).status_code == 303
    morning = datetime(2020, 12, 21, 8, tzinfo=TZ)
    with transaction() as session:
        plan_digests(session, now=morning, rules=RULES, domain="localhost")
    settings = get_settings()
    dispatch_batch(open_database(settings.database_url), now=morning, settings=settings, rules=RULES)
    digest = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "digest")
    text = digest.get_body(("plain",)).get_content()
    assert "[2550/STTTT-BCTT] Sở Tài nguyên và Môi trường · land-use-conversion: Đã giao → Đã tiếp nhận" in text
    waiting = text.split("I. VIỆC CHỜ QUYẾT ĐỊNH", 1)[1].split("II. ", 1)[0]
    assert "(land-use-conversion) — đề nghị gia hạn đến 15/01/2021" in waiting and "Chờ ý kiến Bộ" in waiting
    assert f"dondoc extend {SLUG}/land-use-conversion" in waiting
    request = next(m for m in smtp.messages() if str(m["X-Dondoc-Rung"]) == "extension-request")
    assert "stttt@longan.example.com" in str(request["To"])


# --- §2 of issue 9: uploads cannot fill the disk --------------------------------------------------------------

BLOCK = b"\0" * 65536
NOMINAL = 300 * 1024 * 1024  # the body an attacker streams; the app must never pull more than the limit of it


def drive(app, method: str, target: str, *, headers: dict | None = None, body: int = NOMINAL,
          start: bytes = b"") -> tuple[int, bytes, int]:
    """One request straight into the ASGI app, its body streamed chunk by chunk as a chunked upload arrives.

    The body is `start` followed by blocks. Returns the status, the page and how many body bytes the app pulled.
    The stream ends after `body` bytes,
    but the count shows what the app would have spooled of a stream that never ends.
    """
    import asyncio

    path, _, query = target.partition("?")
    pulled = 0
    answer: dict = {"body": b""}

    async def receive():
        nonlocal pulled
        if pulled >= body:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = start if pulled == 0 and start else BLOCK
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **(headers or {})}.items()],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    return answer["status"], answer["body"], pulled


def uploaded_files(root) -> list:
    folder = root / "state" / "uploads"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def cookie_header(client) -> str:
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


MULTIPART = {"content-type": "multipart/form-data; boundary=xyz", "transfer-encoding": "chunked"}
# A completion form whose document part never ends.
ENDLESS_DOCUMENT = ("--xyz\r\nContent-Disposition: form-data; name=\"number\"\r\n\r\n1/SXD\r\n"
                    "--xyz\r\nContent-Disposition: form-data; name=\"document_date\"\r\n\r\n2020-12-19\r\n"
                    "--xyz\r\nContent-Disposition: form-data; name=\"document\"; filename=\"big.pdf\"\r\n"
                    "Content-Type: application/pdf\r\n\r\n%PDF-").encode()


def test_a_post_without_valid_tokens_is_refused_before_its_body_is_read(site):
    client, link, _ = site
    url, token = link()
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/permit-review/hoan-thanh"
    for target, headers in [
        (base, MULTIPART),  # no token at all
        (f"{base}?t={token[:-2]}xx", MULTIPART),  # a tampered link
        (f"{base}?t={token}", {**MULTIPART, "cookie": cookie_header(client)}),  # no form token
        (f"{base}?t={token}&csrf={tokens['csrf']}", MULTIPART),  # the form token without its cookie
    ]:
        status, page, pulled = drive(client.app, "POST", target, headers=headers, start=ENDLESS_DOCUMENT)
        assert status == 403 and "refusal" in page.decode(), target
        assert pulled == 0, target
    assert assignment("permit-review").status == "assigned"


def test_the_body_is_cut_off_at_the_limit_whatever_the_transfer_encoding(site, monkeypatch, tmp_path):
    monkeypatch.setenv("DONDOC_UPLOAD_MAX_MB", "1")
    client, link, clock = site
    small = TestClient(create_app(clock=clock), follow_redirects=False)
    url, _ = link()
    tokens = form_tokens(small.get(url).text)
    target = f"/phan-hoi/{SLUG}/permit-review/hoan-thanh?t={tokens['t']}&csrf={tokens['csrf']}"
    cookie = {"cookie": cookie_header(small)}
    limit = 1024 * 1024 + 256 * 1024
    status, page, pulled = drive(small.app, "POST", target, headers={**MULTIPART, **cookie}, start=ENDLESS_DOCUMENT)
    assert status == 413 and "vượt quá giới hạn 1 MB" in page.decode()  # chunked, no length
    assert limit < pulled <= limit + len(BLOCK)
    declared = {"content-type": "multipart/form-data; boundary=xyz", "content-length": str(NOMINAL), **cookie}
    status, page, pulled = drive(small.app, "POST", target, headers=declared)
    assert status == 413 and pulled == 0  # a declared length past the limit: refused before reading
    liar = {"content-type": "multipart/form-data; boundary=xyz", "content-length": "1000", **cookie}
    status, page, pulled = drive(small.app, "POST", target, headers=liar, start=ENDLESS_DOCUMENT)  # sends more
    assert status == 413 and pulled <= limit + len(BLOCK)
    assert assignment("permit-review").status == "assigned" and not uploaded_files(tmp_path)


def test_a_real_server_answers_a_tokenless_endless_upload_at_once(site):
    """Through uvicorn and a socket: the 403 arrives while the client is still sending, and nothing is kept."""
    import select
    import socket

    from dondoc.mailbox import free_port
    from dondoc.serve import WebServer

    client, _, _ = site
    port = free_port()
    server = WebServer(client.app, "127.0.0.1", port)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((f"POST /phan-hoi/{SLUG}/permit-review/hoan-thanh HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          "Content-Type: multipart/form-data; boundary=xyz\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n"
            sent, answer = 0, b""
            while sent < NOMINAL:
                readable, writable, _ = select.select([sock], [sock], [], 5)
                if readable:
                    answer = sock.recv(65536)
                    break
                if writable:
                    try:
                        sock.sendall(chunk)
                    except OSError:  # the server closed the connection: the answer is waiting
                        break
                    sent += len(chunk)
            answer = answer or sock.recv(65536)
    finally:
        server.stop()
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert sent < 16 * 1024 * 1024, sent  # what the socket buffers took, not a 300 MB spool


def test_a_refused_action_stores_no_file(site, tmp_path):
    client, link, clock = site
    url, _ = link()
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/permit-review"
    other = b"%PDF-1.4\n% a second, different report\n%%EOF\n"
    invalid = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "", "document_date": "2020-12-19"},
                          files={"document": ("15.pdf", PDF, "application/pdf")})
    assert invalid.status_code == 400 and not uploaded_files(tmp_path)  # the form was wrong: nothing kept
    clock.now = datetime(2020, 12, 28, 15, tzinfo=TZ)
    done = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "15/SXD-QLXD", "document_date": "2020-12-25"},
                       files={"document": ("15.pdf", PDF, "application/pdf")})
    assert done.status_code == 303
    kept = uploaded_files(tmp_path)
    assert [p.name for p in kept] == [f"{hashlib.sha256(PDF).hexdigest()}.pdf"]
    assert events("status")[-1].payload["document"]["path"] == str(kept[0])
    # The assignment is done already: the model refuses the second completion, and its document is not kept.
    again = client.post(f"{base}/hoan-thanh", params=tokens, data={"number": "16/SXD-QLXD", "document_date": "2020-12-26"},
                        files={"document": ("16.pdf", other, "application/pdf")})
    assert again.status_code == 400
    assert uploaded_files(tmp_path) == kept and len(events("status")) == 1


# --- §3 of issue 9: agency text cannot break anything (input side of the reply pages) -------------------------

CONTROLS = [  # (action, form, the field's error on the page)
    ("gia-han", {"until": "2021-01-15", "reason": "Chờ ý kiến\x00 Bộ"}, "Lý do chứa ký tự điều khiển (U+0000)"),
    ("gia-han", {"until": "2021-01-15\x00", "reason": "Chờ"}, "Ngày đề nghị gia hạn chứa ký tự điều khiển (U+0000)"),
    ("hoan-thanh", {"number": "15/SXD\x00-QLXD", "document_date": "2020-12-19"},
     "Số, ký hiệu văn bản chứa ký tự điều khiển (U+0000)"),
    ("hoan-thanh", {"number": "15/SXD\u202e-QLXD", "document_date": "2020-12-19"},
     "Số, ký hiệu văn bản chứa ký tự ẩn hoặc ký tự đảo chiều văn bản (U+202E)"),
    ("hoan-thanh", {"number": "15/SXD\u200b-QLXD", "document_date": "2020-12-19"}, "Số, ký hiệu văn bản chứa ký tự ẩn"),
    ("hoan-thanh", {"number": "15/SXD", "document_date": "2020-12-19", "note": "ghi\x1bchú"},
     "Ghi chú chứa ký tự điều khiển (U+001B)"),
    ("tien-do", {"note": "Đã họp\x85"}, "Nội dung đã thực hiện chứa ký tự điều khiển (U+0085)"),
    ("tien-do", {"note": "Đã họp \u2066bí mật\u2069"}, "Nội dung đã thực hiện chứa ký tự ẩn hoặc ký tự đảo chiều văn bản (U+2066)"),
]


def test_control_characters_get_the_fields_vietnamese_error_on_both_databases(site):
    """On PostgreSQL a NUL used to reach the driver and answer 500; now each is a 400 page naming the field."""
    client, link, _ = site
    before = len(events())
    for action, data, message in CONTROLS:
        key, agency = ("land-use-conversion", "stnmt") if action == "gia-han" else ("permit-review", "sxd")
        url, _ = link(key, agency)
        tokens = form_tokens(client.get(url).text)
        page = client.post(f"/phan-hoi/{SLUG}/{key}/{action}", params=tokens, data=data)
        assert page.status_code == 400, (data, page.text[:300])
        assert re.search(r'<p class="error">' + re.escape(message), page.text), (message, page.text)
    assert len(events()) == before
    with transaction() as session:
        assert not session.exec(select(ExtensionRequest)).all()


def test_tab_and_newline_are_welcome_in_notes(site):
    client, link, _ = site
    url, _ = link()
    tokens = form_tokens(client.get(url).text)
    sent = client.post(f"/phan-hoi/{SLUG}/permit-review/tien-do", params=tokens,
                       data={"note": "Đã họp:\r\n\t- với doanh nghiệp\n\t- với Sở"})
    assert sent.status_code == 303
    assert events("status")[-1].payload["note"] == "Đã họp:\r\n\t- với doanh nghiệp\n\t- với Sở"


def test_a_report_document_may_not_precede_the_directive(site):
    client, link, _ = site
    url, _ = link()
    tokens = form_tokens(client.get(url).text)
    page = client.post(f"/phan-hoi/{SLUG}/permit-review/hoan-thanh", params=tokens,
                       data={"number": "15/SXD-QLXD", "document_date": "2020-11-29"})
    assert page.status_code == 400
    assert "Ngày của văn bản báo cáo (29/11/2020) không thể trước ngày ban hành văn bản 2550/STTTT-BCTT (30/11/2020)." in page.text
    assert assignment("permit-review").status == "assigned" and not events("status")
    same_day = client.post(f"/phan-hoi/{SLUG}/permit-review/hoan-thanh", params=tokens,
                           data={"number": "15/SXD-QLXD", "document_date": "2020-11-30"})
    assert same_day.status_code == 303


# --- §4 of issue 9: races -------------------------------------------------------------------------------------

def test_thirty_extension_requests_at_once_leave_one_pending_request_and_one_mail(site):
    """On PostgreSQL all thirty pass the application's check at once; the partial unique index lets one in."""
    import threading

    client, link, _ = site
    url, _ = link("land-use-conversion", "stnmt")
    tokens = form_tokens(client.get(url).text)
    target = f"/phan-hoi/{SLUG}/land-use-conversion/gia-han"
    start = threading.Barrier(30)
    answers: list = []

    def post(n):
        start.wait()
        answers.append(client.post(target, params=tokens, data={"until": "2021-01-15", "reason": f"Chờ ý kiến Bộ ({n})"}))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [303] + [400] * 29, codes
    assert all("đang chờ quyết định" in a.text for a in answers if a.status_code == 400)
    with transaction() as session:
        assert len(session.exec(select(ExtensionRequest).where(ExtensionRequest.state == "pending")).all()) == 1
        assert len(session.exec(select(Notification).where(Notification.rung == "extension-request")).all()) == 1
    assert len(events("extension_requested")) == 1


# --- §5 of issue 9: framework answers -------------------------------------------------------------------------

HEADERS = {"referrer-policy": "no-referrer", "cache-control": "no-store", "x-frame-options": "DENY",
           "x-content-type-options": "nosniff"}


def assert_guarded(response):
    """The security headers, and a CSP that allows no script, no framing and only the page's own style."""
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'" and "script-src" not in policy
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'" and policy["base-uri"] == "'none'"
    if response.headers.get("content-type", "").startswith("text/html"):
        assert "<script" not in response.text and " style=" not in response.text
        style = re.search(r"<style>(.*?)</style>", response.text, re.S).group(1)  # the one inline style, by its hash
        assert policy["style-src"] == "'sha256-%s'" % base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()


def test_docs_routes_are_off(site):
    client, _, _ = site
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        page = client.get(path)
        assert page.status_code == 404 and "Không tìm thấy trang" in page.text, path
        assert_guarded(page)


def test_every_error_is_a_vietnamese_page_with_the_security_headers(site):
    from fastapi import HTTPException

    client, link, _ = site
    app = create_app(clock=site[2])

    @app.get("/probe/{n}")
    def probe(n: int) -> str:  # a typed parameter: what FastAPI would answer 422 in English JSON, echoing the input
        if n == 500:
            raise RuntimeError("boom")
        raise HTTPException(status_code=n)

    probing = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    url, token = link()
    base = f"/phan-hoi/{SLUG}/permit-review"
    answers = {
        200: client.get(url),
        303: client.post(f"{base}/tiep-nhan", params=form_tokens(client.get(url).text)),
        403: client.get(f"/phan-hoi/{SLUG}/permit-review?t=x"),
        404: client.get("/khong-co"),
        405: client.get(f"{base}/tiep-nhan?t={token}"),
        413: client.post(f"{base}/hoan-thanh", content=b"x", headers={"content-length": str(NOMINAL)}),
        422: probing.get("/probe/<b>echo-me"),
        500: probing.get("/probe/500"),
        409: probing.get("/probe/409"),
    }
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text[:200])
        assert_guarded(response)
        if status >= 400:
            assert response.headers["content-type"].startswith("text/html"), status
            assert '<html lang="vi">' in response.text and "echo-me" not in response.text and "detail" not in response.text
    assert "Lỗi hệ thống" in answers[500].text and "boom" not in answers[500].text
    assert answers[405].headers["allow"] == "POST"


def test_a_field_too_long_or_sent_as_a_file_gets_the_page_not_json(site):
    client, link, _ = site
    url, _ = link()
    tokens = form_tokens(client.get(url).text)
    base = f"/phan-hoi/{SLUG}/permit-review"
    huge_note = client.post(f"{base}/tien-do", params=tokens, files={"note": (None, "ý" * 40_000)})
    assert huge_note.status_code == 400 and "dài quá giới hạn" in huge_note.text and "ý" * 100 not in huge_note.text
    as_file = client.post(f"{base}/hoan-thanh", params=tokens, data={"document_date": "2020-12-19"},
                          files={"number": ("n.txt", b"<b>15/SXD</b>", "text/plain")})
    assert as_file.status_code == 400 and "Số, ký hiệu văn bản phải được nhập dưới dạng chữ, không phải tệp." in as_file.text
    file_elsewhere = client.post(f"{base}/tien-do", params=tokens, files={"note": ("n.txt", b"x", "text/plain")})
    assert file_elsewhere.status_code == 400 and "Biểu mẫu chỉ nhận một tệp" in file_elsewhere.text
    garbled = client.post(f"{base}/tien-do", params=tokens, content=b"--nope\r\n\x00",
                          headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert garbled.status_code == 400 and "không đọc được" in garbled.text
    for page in (huge_note, as_file, file_elsewhere, garbled):
        assert page.headers["content-type"].startswith("text/html") and "<b>15/SXD" not in page.text
        assert_guarded(page)
    assert not events("status")


def test_a_post_from_another_site_is_refused(site, monkeypatch):
    monkeypatch.setenv("DONDOC_PUBLIC_URL", "https://phanhoi.example.gov.vn/")
    client, link, clock = site
    public = TestClient(create_app(clock=clock), follow_redirects=False, base_url="https://testserver")
    url, _ = link()
    tokens = form_tokens(public.get(url).text)
    target = f"/phan-hoi/{SLUG}/permit-review/tien-do"
    for origin in ("https://evil.example", "https://phanhoi.example.gov.vn.evil.example",
                   "http://phanhoi.example.gov.vn", "http://testserver", "garbage"):
        page = public.post(target, params=tokens, data={"note": "x"}, headers={"origin": origin})
        assert page.status_code == 403 and "trang web khác" in page.text, origin
        assert_guarded(page)
    assert not events("status")
    for n, origin in enumerate(("https://phanhoi.example.gov.vn", "HTTPS://PHANHOI.example.gov.vn:443",
                                "https://testserver", "null", None)):
        # The public URL, the host it came to, our own page under no-referrer (browsers send null), an old client.
        headers = {"origin": origin} if origin else {}
        assert public.post(target, params=tokens, data={"note": f"lần {n}"}, headers=headers).status_code == 303, origin
    assert len(events("status")) == 5
