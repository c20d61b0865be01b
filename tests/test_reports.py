"""Reports (md, html, docx) and extension decisions through the CLI, with the Prefect test server."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from sqlmodel import select
from typer.testing import CliRunner

from dondoc.cli import app
from models.store.db import transaction
from models.lifecycle.extensions import request_extension
from models.lifecycle.launch import launch_directive
from models.definition.loader import load_directive_file
from models.lifecycle.updates import record_update
from models.store.tables import Assignment, ExtensionRequest, Notification
from models.calendar.timerules import TimeRules
from tests.conftest import SEED

runner = CliRunner()
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SLUG = "2550-stttt-bctt"


def dondoc(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def campaign(database, prefect_server):
    """The seed launched, one assignment done on time and one late (written directly: the CLI is tested elsewhere)."""
    rules = TimeRules()
    with transaction() as session:
        launch_directive(session, loaded=load_directive_file(SEED), now=datetime(2020, 11, 30, 9, tzinfo=TZ),
                         rules=rules, actor="coordinator")
        record_update(session, slug=SLUG, key="permit-review", status="done", evidence="15/SXD-QLXD",
                      evidence_on=date(2020, 12, 25), now=datetime(2020, 12, 28, 10, tzinfo=TZ), rules=rules, actor="sxd")
        record_update(session, slug=SLUG, key="land-use-conversion", status="done", evidence="45/STNMT-QLĐĐ",
                      now=datetime(2021, 1, 12, 10, tzinfo=TZ), rules=rules, actor="stnmt")
    return SLUG


def test_extension_requested_listed_approved_and_told(campaign):
    with transaction() as session:
        request_extension(session, slug=SLUG, key="network-transition", agency="stttt", until=date(2021, 1, 15),
                          reason="Chờ Bộ công bố danh sách 5G", now=datetime(2020, 12, 22, 10, tzinfo=TZ), rules=TimeRules())
    pending = json.loads(dondoc("extensions", "--json").stdout)
    assert [(p["key"], p["agency"], p["until"]) for p in pending] == [("network-transition", "stttt", "2021-01-15")]
    result = dondoc("extend", f"{SLUG}/network-transition", "--reason", "Đồng ý", "--now", "2020-12-23T09:00+07:00")
    assert result.exit_code == 0, result.output
    assert json.loads(dondoc("extensions", "--json").stdout) == []
    with transaction() as session:
        row = session.exec(select(Assignment).where(Assignment.key == "network-transition")).one()
        request = session.exec(select(ExtensionRequest)).one()
        decision = session.exec(select(Notification).where(Notification.rung == "extension-decision")).one()
    assert row.due == date(2021, 1, 15) and request.state == "approved"
    assert decision.to_audience == ["leads"] and decision.payload["approved"] is True


def test_extension_rejected_and_told(campaign):
    with transaction() as session:
        request_extension(session, slug=SLUG, key="industrial-park-access", agency="sct", until=date(2021, 2, 26),
                          reason="Chưa bố trí được mặt bằng", now=datetime(2020, 12, 22, 10, tzinfo=TZ), rules=TimeRules())
    assert dondoc("extend", f"{SLUG}/industrial-park-access", "--reject", "--until", "2021-02-01",
                  "--reason", "x").exit_code == 2
    result = dondoc("extend", f"{SLUG}/industrial-park-access", "--reject", "--reason", "Cần hoàn thành đúng hạn",
                    "--now", "2020-12-23T09:00+07:00")
    assert result.exit_code == 0, result.output
    with transaction() as session:
        row = session.exec(select(Assignment).where(Assignment.key == "industrial-park-access")).one()
        decision = session.exec(select(Notification).where(Notification.rung == "extension-decision")).one()
    assert row.due == date(2020, 12, 31) and decision.payload["approved"] is False
    assert dondoc("extend", f"{SLUG}/industrial-park-access", "--reject", "--reason", "again").exit_code == 2


def test_markdown_report_follows_decree_30(campaign, tmp_path):
    target = tmp_path / "bao-cao.md"
    result = dondoc("report", SLUG, "--format", "md", "-o", str(target), "--now", "2021-01-20T09:00+07:00")
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    for words in ("ỦY BAN NHÂN DÂN TỈNH LONG AN", "**SỞ THÔNG TIN VÀ TRUYỀN THÔNG**", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                  "Độc lập - Tự do - Hạnh phúc", "Số: …/BC-STTTT", "Long An, ngày 20 tháng 01 năm 2021", "BÁO CÁO",
                  "Kính gửi: Cục Viễn thông", "KHÓ KHĂN, VƯỚNG MẮC", "ĐỀ XUẤT, KIẾN NGHỊ", "**Nơi nhận:**", "Như trên;",
                  "KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "Hồ Văn Dân", "15/SXD-QLXD", "45/STNMT-QLĐĐ"):
        assert words in text, words
    assert "Hoàn thành đúng hạn: **1**" in text and "Hoàn thành quá hạn: **1**" in text and "Quá hạn: **2**" in text
    assert "Tổng số nhiệm vụ: **5**" in text


def test_the_coordinators_digest_counts_with_the_scorecards_function(campaign, tmp_path):
    from datetime import date

    from models.oversight.figures import figures
    from notifications.context import BatchContext

    now = datetime(2021, 1, 20, 9, tzinfo=TZ)
    with transaction() as session:
        digest_row = Notification(id=-1, key="coordinator-stttt/-/digest/2021-01-20", message_id="m", directive_id=None,
                                  rung="digest", template="digest", on=now.date(), due_at=now,
                                  to_audience=["coordinator"], payload={"issuer": "stttt"})
        prepared = BatchContext(session, [digest_row], now=now, rules=TimeRules()).prepare(digest_row)
        scores = figures(session, span=(date(2021, 1, 1), date(2021, 12, 31)), now=now, rules=TimeRules(),
                         issuer="stttt")
    assert prepared.context["digest"]["totals"] == scores.totals and scores.totals["assigned"] > 0
    assert [p.agency for p in prepared.to] == ["stttt"] and not prepared.slug


def test_html_report_embeds_the_timeline(campaign, tmp_path):
    target = tmp_path / "bao-cao.html"
    assert dondoc("report", SLUG, "--format", "html", "-o", str(target), "--now", "2021-01-20T09:00+07:00").exit_code == 0
    html = target.read_text(encoding="utf-8")
    assert "<svg" in html and "permit-review" in html and "Kính gửi: Cục Viễn thông" in html


def test_docx_report_opens_in_python_docx_and_libreoffice(campaign, tmp_path):
    target = tmp_path / "bao-cao.docx"
    assert dondoc("report", SLUG, "--format", "docx", "-o", str(target), "--now", "2021-01-20T09:00+07:00").exit_code == 0
    document = Document(str(target))
    text = "\n".join(p.text for p in document.paragraphs)
    cells = "\n".join(c.text for t in document.tables for row in t.rows for c in row.cells)
    assert "BÁO CÁO" in text and "Kính gửi: Cục Viễn thông." in text and "KHÓ KHĂN, VƯỚNG MẮC" in text
    assert "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in cells and "Số: …/BC-STTTT" in cells and "Nơi nhận:" in cells
    assert "15/SXD-QLXD" in cells and "Hồ Văn Dân" in cells
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed; .ci/run installs libreoffice-writer-nogui")
    done = subprocess.run([soffice, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(target)],
                          capture_output=True, text=True, timeout=120,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    pdf = (tmp_path / "bao-cao.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 5000


def test_report_of_unknown_directive_is_one_line(database):
    result = dondoc("report", "nothing", "--format", "md")
    assert result.exit_code == 1 and result.stderr.startswith("Lỗi:")
