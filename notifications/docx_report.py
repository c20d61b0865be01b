"""Reports as .docx (python-docx): A4, Times New Roman, margins, header and signature block of Decree 30/2020/NĐ-CP."""

from __future__ import annotations

import io

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from notifications.report import MOTTO, NATIONAL_NAME, Report

FONT = "Times New Roman"


def _font(run, size: float = 14, bold: bool = False, italic: bool = False) -> None:
    run.font.name = FONT
    run.font.size = Pt(size)
    run.bold, run.italic = bold, italic
    run._element.rPr.rFonts.set(qn("w:eastAsia"), FONT)


def _para(container, text: str = "", *, size: float = 14, bold: bool = False, italic: bool = False,
          align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent: bool = False, after: float = 6):
    paragraph = container.add_paragraph()
    paragraph.alignment = align
    paragraph.paragraph_format.space_after = Pt(after)
    paragraph.paragraph_format.space_before = Pt(0)
    if indent:
        paragraph.paragraph_format.first_line_indent = Cm(1)
    if text:
        _font(paragraph.add_run(text), size, bold, italic)
    return paragraph


def _no_borders(table) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        element.set(qn("w:val"), "nil")
        borders.append(element)
    table._tbl.tblPr.append(borders)


def _cell_lines(cell, lines: list[tuple[str, dict]]) -> None:
    cell.paragraphs[0].text = ""
    for i, (text, style) in enumerate(lines):
        paragraph = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
        paragraph.alignment = style.get("align", WD_ALIGN_PARAGRAPH.CENTER)
        paragraph.paragraph_format.space_after = Pt(0)
        _font(paragraph.add_run(text), style.get("size", 13), style.get("bold", False), style.get("italic", False))


def grid(document, headers: tuple[str, ...], rows: list[tuple[str, ...]], *, size: float = 12) -> None:
    """A bordered table: bold headers, then one line of cells per row."""
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, headers):
        _cell_lines(cell, [(text, {"bold": True, "size": size})])
    for values in rows:
        for cell, text in zip(table.add_row().cells, values):
            _cell_lines(cell, [(text, {"size": size, "align": WD_ALIGN_PARAGRAPH.LEFT})])


def decree_30(report, results) -> bytes:
    """A report in the Decree 30/2020/NĐ-CP frame: header, subject, Kính gửi, intro, section I drawn by
    ``results(document, report)``, difficulties, proposals, Nơi nhận and the signature block.

    Shared by the per-directive report (``to_docx``) and the period report (notifications/period_report.py).
    """
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    normal = document.styles["Normal"]
    normal.font.name, normal.font.size = FONT, Pt(14)

    head = document.add_table(rows=1, cols=2)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    _no_borders(head)
    _cell_lines(head.cell(0, 0), [(report.parent, {"size": 13}), (report.issuer, {"bold": True}), ("_______", {}),
                                  (report.number_line, {})])
    _cell_lines(head.cell(0, 1), [(NATIONAL_NAME, {"bold": True, "size": 13}), (MOTTO, {"bold": True}),
                                  ("_______________", {}), (report.place_date, {"italic": True})])

    _para(document, "BÁO CÁO", bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0).paragraph_format.space_before = Pt(12)
    _para(document, report.subject, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(document, f"Kính gửi: {'; '.join(report.recipients)}.", align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    _para(document, report.intro, indent=True)

    _para(document, "I. KẾT QUẢ THỰC HIỆN", bold=True)
    results(document, report)

    _para(document, "II. KHÓ KHĂN, VƯỚNG MẮC", bold=True).paragraph_format.space_before = Pt(12)
    for item in report.difficulties:
        _para(document, f"- {item}", indent=True)
    _para(document, "III. ĐỀ XUẤT, KIẾN NGHỊ", bold=True)
    for item in report.proposals:
        _para(document, f"- {item}", indent=True)
    _para(document, "Trân trọng./.", indent=True)

    foot = document.add_table(rows=1, cols=2)
    _no_borders(foot)
    _cell_lines(foot.cell(0, 0), [("Nơi nhận:", {"bold": True, "italic": True, "size": 12, "align": WD_ALIGN_PARAGRAPH.LEFT}),
                                  *[(f"- {c}", {"size": 11, "align": WD_ALIGN_PARAGRAPH.LEFT}) for c in report.copies]])
    signer = [(report.signature["authority"], {"bold": True})] if report.signature.get("authority") else []
    _cell_lines(foot.cell(0, 1), [*signer, (report.signature["title"], {"bold": True}), ("", {}), ("", {}), ("", {}),
                                  (report.signature["name"], {"bold": True})])
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _directive_results(document, report: Report) -> None:
    _para(document, "1. Số liệu chung", italic=True)
    for label, value in report.count_lines:
        _para(document, f"- {label}: {value}.", indent=True, after=2)
    _para(document, "2. Chi tiết từng nhiệm vụ", italic=True)
    grid(document, ("TT", "Đơn vị chủ trì", "Nhiệm vụ", "Thời hạn", "Tình hình", "Văn bản báo cáo", "Ngày"),
         [(str(row["index"]), row["agency"], row["action"], row["due"], row["status"], row["evidence"],
           row["evidence_on"]) for row in report.rows])


def to_docx(report: Report) -> bytes:
    return decree_30(report, _directive_results)
