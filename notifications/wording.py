"""How dates, durations and addressees are written in Vietnamese administrative style."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import date

from models.textcheck import shown

WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def dmy(day: date | None) -> str:
    return f"{day:%d/%m/%Y}" if day else ""


def weekday_date(day: date) -> str:
    """``Thứ Năm, ngày 31/12/2020``."""
    return f"{WEEKDAYS[day.weekday()]}, ngày {day:%d/%m/%Y}"


def long_date(day: date) -> str:
    """``ngày 30 tháng 11 năm 2020``, as in a document's date line.

    Decree 30/2020/NĐ-CP: days below 10 and the months 1 and 2 take a leading zero.
    """
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def days_phrase(overdue: int) -> str:
    """Working days left (negative) or overdue (positive), in words."""
    if overdue > 0:
        return f"đã quá hạn {overdue} ngày làm việc"
    if overdue == 0:
        return "đến hạn trong hôm nay"
    return f"còn {-overdue} ngày làm việc"


def honorific(name: str) -> str:
    """How a letter addresses an agency in the second person: Quý Sở, Quý Ban, …"""
    for prefix, word in (("Sở ", "Quý Sở"), ("Ban ", "Quý Ban"), ("Văn phòng", "Quý Văn phòng"),
                         ("Cục ", "Quý Cục"), ("Ủy ban", "Quý Ủy ban"), ("UBND", "Quý Ủy ban")):
        if name.startswith(prefix):
            return word
    return "Quý đơn vị"


def one_line(text: str) -> str:
    """Text safe for a mail header: no CR, LF or other line breaks, spaces folded."""
    return " ".join(str(text).split())


def steps_taken(rungs: Iterable[str]) -> str:
    """What the issuer has done about the deadline, from the rungs already sent, for a sentence that claims it.

    ``đã nhắc hạn, đôn đốc và báo cáo Thủ trưởng đơn vị chủ trì``; empty when
    only the notice went out (after downtime, the steps in between were skipped).
    """
    sent = set(rungs)
    steps = [words for words, by in (("nhắc hạn", {"reminder", "due-soon"}), ("đôn đốc", {"overdue"}),
                                     ("báo cáo Thủ trưởng đơn vị chủ trì", {"escalation"})) if sent & by]
    if not steps:
        return ""
    return "đã " + (steps[0] if len(steps) == 1 else ", ".join(steps[:-1]) + " và " + steps[-1])


RUNG_LABELS = {
    "notice": "Thư giao nhiệm vụ",
    "reminder": "Thư nhắc hạn",
    "due-soon": "Thư báo sắp đến hạn",
    "overdue": "Thư đôn đốc",
    "escalation": "Báo cáo Thủ trưởng đơn vị chủ trì",
    "report-up": "Báo cáo Văn phòng UBND tỉnh",
    "digest": "Tổng hợp hằng ngày",
    "closed": "Thông báo kết thúc",
    "extension-request": "Đề nghị gia hạn",
    "extension-decision": "Thông báo quyết định gia hạn",
    "review-request": "Đề nghị xác nhận kết quả",
    "unacknowledged": "Đề nghị xác nhận tiếp nhận",
    "declined": "Thông báo đơn vị từ chối nhiệm vụ",
    "decline-refused": "Thông báo giữ nguyên giao nhiệm vụ",
    "accepted": "Thông báo xác nhận hoàn thành",
    "returned": "Thông báo trả lại, yêu cầu bổ sung",
}


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]{}#!~|])")
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp)(:)|\b(www)(\.)")
_LIST_MARKER = re.compile(r"^(\s*(?:\d+)?)([-+.)])(?=\s)")


def markdown_text(text: str) -> str:
    """Text that a Markdown renderer shows as written, on one line (and inside a table cell).

    Agencies type what ends up here; the Prefect UI renders raw HTML and
    Markdown in artifact tables and descriptions, so neither may pass through:
    HTML becomes entities, emphasis, links and cell breaks are backslash-escaped,
    control and invisible characters are shown as codes (``textcheck.shown``),
    a bare address is not made a link (GFM's autolinks), and a leading "1." or
    "-" does not start a list.
    """
    flat = str(text).replace("\r", " ").replace("\n", " ").replace("\t", " ")
    flat = html.escape(shown(flat), quote=False)  # any other control as a visible \u… code
    flat = _MARKDOWN_PUNCTUATION.sub(r"\\\1", flat)
    flat = _AUTOLINK.sub(lambda m: f"{m[1] or m[3]}\\{m[2] or m[4]}", flat)
    return _LIST_MARKER.sub(r"\1\\\2", flat)
