"""The period report (issue 14 §3) and reports that tell the truth as of their date, on SQLite, without Prefect."""

from __future__ import annotations

import io
import re
import textwrap
import xml.etree.ElementTree as ET
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from models.calendar.periods import span_of
from models.calendar.timerules import TimeRules
from models.definition.loader import load_directive_text
from models.lifecycle.launch import launch_directive
from models.lifecycle.queries import get_directive
from models.lifecycle.updates import close_directive, extend_assignment, record_update
from models.oversight.figures import figures
from models.store import migrate
from models.store.db import get_engine, session_scope
from notifications.period_report import (CHART_COLUMNS, TOTAL_LABELS, build_period_report, to_docx, to_html,
                                         to_markdown)
from notifications.report import build_report
from notifications.report import to_markdown as directive_markdown

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
RULES = TimeRules()
EVIL = '<img src=x onerror="alert(1)"> **đậm** [bấm](http://evil.example) | ô'

PLAN = """\
number: 12/KH-UBND
issued_on: 2021-01-04
issuer: ubnd
subject: Kế hoạch thử báo cáo theo kỳ
place: Long An
registry: agencies/long-an.yaml
ack_within: 0
report:
  difficulties: [Thiếu kinh phí thực hiện.]
  proposals: [Đề nghị bổ sung kinh phí.]
assignments:
  - {key: a, title: Việc A, action: Làm việc A., leads: [sxd, stnmt], due: 2021-01-29}
  - {key: b, title: Việc B, action: Làm việc B., leads: [sxd], due: 2021-02-26}
  - {key: c, title: Việc C, action: Làm việc C., leads: [stttt], due: 2021-03-15}
  - {key: d, title: Việc D, action: Làm việc D., leads: [stttt], due: 2021-03-31}
"""
OTHER = """\
number: 30/KH-STTTT
issued_on: 2021-01-11
issuer: stttt
subject: Kế hoạch thứ hai
place: Long An
registry: agencies/long-an.yaml
ack_within: 0
report:
  difficulties: [Thiếu kinh phí thực hiện.]
assignments:
  - {key: x, title: 'EVIL', action: Làm việc X., leads: [sxd], due: 2021-02-05}
"""


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


@pytest.fixture
def played(tmp_path, workspace, monkeypatch):
    """12/KH-UBND: a done on time by both co-leads on 28/01; b extended to 12/03 and done late on 16/03; c and d
    left open, then cancelled when the directive closes on 20/04. 30/KH-STTTT: x, titled with markup, never done.
    Sở Xây dựng's name in the registry tries to be markup too."""
    registry = workspace / "agencies" / "long-an.yaml"
    registry.write_text(registry.read_text(encoding="utf-8").replace("name: Sở Xây dựng", f"name: 'Sở Xây dựng {EVIL}'"),
                        encoding="utf-8")
    engine = get_engine(f"sqlite:///{tmp_path / 'period.db'}")
    migrate.upgrade(engine)
    for text, day in ((PLAN, "2021-01-05"), (OTHER.replace("EVIL", EVIL.replace("'", "''")), "2021-01-12")):
        with session_scope(engine) as session:
            launch_directive(session, loaded=load_directive_text(textwrap.dedent(text), name="d.yaml",
                                                                 base_dir=workspace), now=at(day), rules=RULES, actor="t")
    slug = "12-kh-ubnd"
    steps = [(record_update, dict(key="a", status="done", evidence="05/SXD-QLXD"), "2021-01-28"),
             (extend_assignment, dict(key="b", until=date(2021, 3, 12), reason="Chờ số liệu"), "2021-02-20"),
             (record_update, dict(key="b", status="done"), "2021-03-16")]
    for fn, kwargs, day in steps:
        with session_scope(engine) as session:
            fn(session, slug=slug, now=at(day), rules=RULES, actor="t", **kwargs)
    with session_scope(engine) as session:
        close_directive(session, directive=get_directive(session, slug=slug), now=at("2021-04-20"), actor="t",
                        reason="thử")
    monkeypatch.setenv("DONDOC_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path / "state"))
    yield engine
    engine.dispose()


def build(engine, now="2021-04-05", period="2021-q1", **kwargs):
    with session_scope(engine) as session:
        found = figures(session, span=span_of(period), now=at(now), rules=RULES, issuer=kwargs.get("issuer"))
        report = build_period_report(session, span=span_of(period), period=period, now=at(now), rules=RULES, **kwargs)
    return found, report


def docx_text(data: bytes) -> str:
    from docx import Document

    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def test_period_report_holds_the_figures_in_md_html_and_docx(played):
    found, report = build(played)
    t = found.totals
    # On 05/04: a on time, b late, c and d overdue (12/KH-UBND), x overdue since 05/02 (30/KH-STTTT).
    assert t == {"assigned": 5, "on_time": 1, "late": 1, "open_in_time": 0, "open_overdue": 3, "cancelled": 0}
    assert [o["number"] for o in report.overdue] == ["30/KH-STTTT", "12/KH-UBND", "12/KH-UBND"]
    assert [o["key"] for o in report.overdue] == ["x", "c", "d"]
    days = [o["days"] for o in report.overdue]
    assert days == sorted(days, reverse=True) and days[1] == RULES.calendar.working_days_between(date(2021, 3, 15),
                                                                                                   date(2021, 4, 5))
    for text in (to_markdown(report), to_html(report), docx_text(to_docx(report))):
        for key, label in TOTAL_LABELS.items():
            assert re.search(rf"{re.escape(label)}: (\*\*|<strong>)?{t[key]}\b", text), (label, text[:3000])
        for row in found.rows:
            assert row.rating in text
            assert f"({row.agency})" in text
        assert "12/KH-UBND" in text and "30/KH-STTTT" in text and "Việc C (c)" in text
        assert "Nơi nhận" in text and "Như trên;" in text and "Lưu: VT." in text
        # No --issuer: the registry's provincial office signs, to the provincial People's Committee.
        assert "CHÁNH VĂN PHÒNG ỦY BAN NHÂN DÂN TỈNH" in text and "VĂN PHÒNG ỦY BAN NHÂN DÂN TỈNH LONG AN" in text
        assert "Kính gửi: Ủy ban nhân dân tỉnh Long An" in text and "quý I năm 2021" in text
        assert "Thiếu kinh phí thực hiện." in text and text.count("Thiếu kinh phí thực hiện.") == 1  # deduplicated
        assert "Đề nghị bổ sung kinh phí." in text
    # Each scorecard row, cell by cell, in the Markdown table.
    markdown = to_markdown(report)
    for row in found.rows:
        line = next(line for line in markdown.splitlines() if f"\\({row.agency}\\)" in line or f"({row.agency})" in line)
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]  # a cell's own | is \|
        assert cells[0] == str(row.rank) and cells[2:7] == [str(row.assigned), str(row.on_time), str(row.late),
                                                           str(row.open_in_time), str(row.open_overdue)]


def test_the_chart_draws_the_scorecard_rows(played):
    found, report = build(played)
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", to_html(report), re.S)[0])
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = svg.findall(".//s:g[@class='agency']", ns)
    assert [g.get("data-agency") for g in groups] == [r.agency for r in found.rows]
    for group, row in zip(groups, found.rows):
        drawn = {r.get("data-column"): int(r.get("data-value")) for r in group.findall("s:rect", ns)}
        assert drawn == {key: getattr(row, key) for key, _, _ in CHART_COLUMNS}
    colours = {r.get("data-column"): r.get("fill") for r in svg.iter("{http://www.w3.org/2000/svg}rect")
               if r.get("data-value") not in (None, "0")}
    assert colours["open_overdue"] == "#e53935" and colours["on_time"] == "#43a047"


@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_hostile_agency_and_directive_text_is_escaped(played, fmt, tmp_path):
    target = tmp_path / f"ky.{fmt}"
    result = CliRunner().invoke(__import__("dondoc.cli", fromlist=["app"]).app,
                                ["report", "--period", "2021-q1", "--format", fmt, "-o", str(target),
                                 "--now", "2021-04-05T10:00+07:00"])
    assert result.exit_code == 0, result.output
    if fmt == "docx":
        text = docx_text(target.read_bytes())
        assert EVIL in text  # a .docx holds text, not markup: shown as typed
        return
    text = target.read_text(encoding="utf-8")
    assert "<img" not in text and "&lt;img src=x" in text
    if fmt == "md":
        assert "\\*\\*đậm\\*\\*" in text and "[bấm](http" not in text
    else:
        assert text.count("<svg") == 1 and "<title>Sở Xây dựng &lt;img" in text


def test_an_empty_period_gives_an_honest_empty_report(played, tmp_path):
    found, report = build(played, period="2022-q1", now="2022-04-05")
    assert found.totals["assigned"] == 0 and not report.scorecard and not report.overdue and not report.chart
    for text in (to_markdown(report), to_html(report), docx_text(to_docx(report))):
        assert "Không có nhiệm vụ nào có thời hạn quý I năm 2022" in text and "Không có nhiệm vụ quá hạn." in text
        assert "Tổng số nhiệm vụ có thời hạn trong kỳ: " in text and "Nơi nhận" in text
    from dondoc.cli import app

    target = tmp_path / "empty.html"
    result = CliRunner().invoke(app, ["report", "--period", "2022-q1", "--format", "html", "-o", str(target),
                                      "--now", "2022-04-05T10:00+07:00"])
    assert result.exit_code == 0 and "<svg" not in target.read_text(encoding="utf-8")


def test_issuer_limits_the_directives_and_signs(played):
    found, report = build(played, issuer="stttt")
    assert found.totals["assigned"] == 1 and [o["number"] for o in report.overdue] == ["30/KH-STTTT"]
    text = to_markdown(report)
    assert "SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in text and "GIÁM ĐỐC SỞ THÔNG TIN VÀ TRUYỀN THÔNG" in text
    assert "BC-STTTT" in text and "12/KH-UBND" not in text


def test_cli_period_report_default_name_and_bad_input(played, tmp_path, monkeypatch):
    from dondoc.cli import app

    monkeypatch.setenv("DONDOC_REPORTS_DIR", str(tmp_path / "reports"))
    runner = CliRunner()
    done = runner.invoke(app, ["report", "--period", "2021-Q1", "--format", "md", "--now", "2021-04-05T10:00+07:00"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "reports" / "bao-cao-ky-2021-q1-20210405.md").exists()
    done = runner.invoke(app, ["report", "--from", "2021-01-01", "--until", "2021-02-28", "--format", "md",
                               "--now", "2021-04-05T10:00+07:00"])
    assert done.exit_code == 0 and (tmp_path / "reports" / "bao-cao-20210101-20210228-20210405.md").exists()
    for args, words in ((["--period", "2021-q5"], "không phải là một kỳ"),
                        (["--from", "2021-05-01", "--until", "2021-04-01"], "sau --until"),
                        (["--period", "2021", "--from", "2021-01-01"], "không dùng cùng"),
                        (["--period", "2021", "--issuer", "nope"], "không có cơ quan ban hành 'nope'"),
                        (["12-kh-ubnd", "--period", "2021"], "chọn một"),
                        (["12-kh-ubnd", "--issuer", "stttt"], "--issuer chỉ dùng"),
                        ([], "thiếu SLUG")):
        refused = runner.invoke(app, ["report", *args, "--format", "md", "-o", str(tmp_path / "x.md")])
        assert refused.exit_code == 2, (args, refused.output)
        assert words in refused.output and "Traceback" not in refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output
    assert not (tmp_path / "x.md").exists()


def test_directive_report_tells_the_truth_as_of_its_date(played):
    """a was done on 28/01 and b extended on 20/02: a report dated 20/01 shows both open, with their first dates."""
    with session_scope(played) as session:
        early = build_report(session, slug="12-kh-ubnd", now=at("2021-01-20"), rules=RULES, with_timeline=False)
        later = build_report(session, slug="12-kh-ubnd", now=at("2021-03-20"), rules=RULES, with_timeline=False)
    rows = {r["key"]: r for r in early.rows}
    assert early.counts["done_on_time"] == 0 and early.counts["done_late"] == 0
    assert rows["a"]["evidence"] == "" and rows["a"]["evidence_on"] == "" and "Hoàn thành" not in rows["a"]["status"]
    assert rows["b"]["due"] == "26/02/2021"
    rows = {r["key"]: r for r in later.rows}
    assert (later.counts["done_on_time"], later.counts["done_late"], later.counts["overdue"]) == (1, 1, 1)
    assert rows["a"]["evidence"] == "05/SXD-QLXD" and rows["a"]["evidence_on"] == "28/01/2021"
    assert rows["b"]["due"] == "12/03/2021" and rows["d"]["status"] != "Đã hủy"
    assert "Hoàn thành" not in directive_markdown(early).split("### 2.")[1].split("## II")[0]
