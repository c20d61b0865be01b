"""Deadlines as letters state them, turned into due dates with the working-day calendar.

| phrase                                              | due date                                    |
|-----------------------------------------------------|---------------------------------------------|
| trước ngày 15/12/2020, chậm nhất ngày …, hạn chót … | that date (a year left out: the letter's)   |
| trong tháng 01/2021                                 | the last working day of that month          |
| trong quý I/2021                                    | the last working day of that quarter        |
| hoàn thành trong năm 2021                           | the last working day of that year           |
| trong thời hạn 10 ngày làm việc kể từ …             | 10 working days after the letter's date     |
| trong vòng 15 ngày kể từ …                          | 15 days after it, moved off a day off       |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from models.letter.vntext import fold
from models.calendar.workdays import WorkCalendar


@dataclass(frozen=True)
class Deadline:
    phrase: str  # as the letter writes it
    due: date | None  # None when it cannot be computed: a relative deadline in a letter without a date
    rule: str  # how the date follows from the phrase, for the coordinator to check


_DMY = r"(?P<d>\d{1,2})\s*(?:[/.-]|\s+thang\s+)\s*(?P<m>\d{1,2})(?:\s*(?:[/.-]|\s+nam\s+)\s*(?P<y>\d{4}))?(?![\d/])"
_TIME = r"(?:\d{1,2}\s*(?:gio|h)\s*(?:\d{1,2}\s*(?:phut)?)?\s*,?\s*)?"
_BY = r"truoc|cham nhat(?:\s+la)?|han chot(?:\s+la)?|khong qua|thoi han(?:\s+hoan thanh|\s+thuc hien)?\s*:?"
_PATTERNS = {
    "date": rf"(?:{_BY})\s+{_TIME}(?:ngay\s+)?{_DMY}",
    "month": r"trong\s+thang\s+(?P<m>\d{1,2})\s*(?:[/-]|\s+nam\s+)\s*(?P<y>\d{4})",
    "quarter": r"trong\s+quy\s+(?P<q>iv|i{1,3}|[1-4])\s*(?:[/-]|\s+nam\s+)\s*(?P<y>\d{4})",
    "year": r"(?:hoan thanh|xong)\s+trong\s+nam\s+(?P<y>\d{4})",
    "days": r"(?:trong(?P<span>\s+thoi\s+han|\s+vong)?|cham nhat(?:\s+la)?|khong qua)\s+(?P<n>\d{1,3})\s*(?:\([^)]*\)\s*)?"
            r"ngay(?P<work>\s+lam\s+viec)?(?P<from>\s*,?\s*(?:ke|tinh)\s+tu\s+ngay\s+(?P<what>nhan|ky|ban hanh)[^,.;)]*)?",
}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_QUARTER_NAMES = {1: "I", 2: "II", 3: "III", 4: "IV"}


def find_deadlines(text: str, *, issued_on: date | None, calendar: WorkCalendar) -> list[Deadline]:
    """Each deadline ``text`` states, in order."""
    found = []
    for kind, pattern in _PATTERNS.items():
        for match in re.finditer(rf"(?<![\w]){pattern}", fold(text)):
            deadline = _deadline(kind, match, text[match.start():match.end()].strip(), issued_on, calendar)
            if deadline is not None:
                found.append((match.start(), match.end(), deadline))
    found.sort(key=lambda f: f[0])
    kept: list[tuple[int, int, Deadline]] = []
    for start, end, deadline in found:
        if not kept or start >= kept[-1][1]:
            kept.append((start, end, deadline))
    return [deadline for _, _, deadline in kept]


def _deadline(kind: str, m: re.Match[str], phrase: str, issued_on: date | None, cal: WorkCalendar) -> Deadline | None:
    groups = m.groupdict()
    year = int(groups["y"]) if groups.get("y") else None
    if kind == "date":
        if year is None and issued_on is None:
            return Deadline(phrase, None, "văn bản không ghi năm và không rõ ngày ban hành")
        try:
            due = date(year or issued_on.year, int(groups["m"]), int(groups["d"]))
        except ValueError:
            return None
        if year is None and due < issued_on:
            due = due.replace(year=due.year + 1)
        return Deadline(phrase, due, "ngày ghi trong văn bản")
    if kind == "month":
        month = int(groups["m"])
        if not 1 <= month <= 12:
            return None
        return Deadline(phrase, cal.last_working_day_of_month(year, month),
                        f"ngày làm việc cuối cùng của tháng {month:02d}/{year}")
    if kind == "quarter":
        quarter = _ROMAN.get(groups["q"]) or int(groups["q"])
        return Deadline(phrase, cal.last_working_day_of_quarter(year, quarter),
                        f"ngày làm việc cuối cùng của quý {_QUARTER_NAMES[quarter]}/{year}")
    if kind == "year":
        return Deadline(phrase, cal.last_working_day_of_month(year, 12), f"ngày làm việc cuối cùng của năm {year}")
    if not (groups["span"] or groups["from"]):
        return None  # "trong 10 ngày" alone is a duration, not a deadline
    n = int(groups["n"])
    if issued_on is None:
        return Deadline(phrase, None, "không rõ ngày ban hành văn bản để tính thời hạn")
    received = "; chưa biết ngày nhận được văn bản nên tính từ ngày ban hành" if groups["what"] == "nhan" else ""
    if groups["work"]:
        return Deadline(phrase, cal.add_working_days(issued_on, n),
                        f"{n} ngày làm việc sau ngày {issued_on:%d/%m/%Y} của văn bản{received}")
    return Deadline(phrase, cal.roll_forward(issued_on + timedelta(days=n)),
                    f"{n} ngày sau ngày {issued_on:%d/%m/%Y} của văn bản, rơi vào ngày nghỉ thì chuyển sang "
                    f"ngày làm việc kế tiếp{received}")
