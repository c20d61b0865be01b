"""Reporting periods of a recurring report (Decree 09/2019/NĐ-CP), as pure functions of plain dates.

A period has a data window and a due date. With ``window: nd09`` (the default) the windows are the
decree's: a month runs from the 15th of the month before to the 14th; a quarter from the 15th of the
month before it to the 14th of its last month; a half-year 15/12–14/6 and 15/6–14/12; a year
15/12–14/12. The report is due on ``report_day`` of the window's last month, so it must fall after the
14th. With ``window: calendar`` the windows are calendar months, quarters, half-years and years, and the
report is due on ``report_day`` of the month after the window ends.

A due date on a day off moves to the next working day (Civil Code Art. 148). Art. 8.5 of the decree
asks for at least one working day between the end of the data window and the deadline: ``too_early``.
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from models.calendar.workdays import WorkCalendar

Every = Literal["month", "quarter", "half-year", "year"]
Window = Literal["nd09", "calendar"]
EVERY: tuple[str, ...] = ("month", "quarter", "half-year", "year")
_PER_YEAR = {"month": 12, "quarter": 4, "half-year": 2, "year": 1}
_MONTHS = {"month": 1, "quarter": 3, "half-year": 6, "year": 12}
EVERY_WORDS = {"month": "hằng tháng", "quarter": "hằng quý", "half-year": "6 tháng", "year": "hằng năm"}
CITATION = "Nghị định 09/2019/NĐ-CP, Điều 8 khoản 5"


@dataclass(frozen=True)
class Period:
    every: str
    year: int
    number: int  # month 1–12, quarter 1–4, half 1–2; 1 for a year
    window_from: date
    window_to: date
    stated_due: date  # report_day of the due month
    due: date  # stated_due, moved to the next working day when it is a day off

    @property
    def name(self) -> str:
        """The period in an occurrence's key: 2021-01, 2021-q1, 2021-h1, 2021."""
        if self.every == "month":
            return f"{self.year}-{self.number:02d}"
        if self.every == "quarter":
            return f"{self.year}-q{self.number}"
        if self.every == "half-year":
            return f"{self.year}-h{self.number}"
        return str(self.year)

    @property
    def label(self) -> str:
        """The period as a letter names it: tháng 01/2021, quý I/2021, 6 tháng đầu năm 2021, năm 2021."""
        if self.every == "month":
            return f"tháng {self.number:02d}/{self.year}"
        if self.every == "quarter":
            return f"quý {('I', 'II', 'III', 'IV')[self.number - 1]}/{self.year}"
        if self.every == "half-year":
            return f"6 tháng {'đầu' if self.number == 1 else 'cuối'} năm {self.year}"
        return f"năm {self.year}"

    @property
    def window_text(self) -> str:
        return f"số liệu từ ngày {self.window_from:%d/%m/%Y} đến ngày {self.window_to:%d/%m/%Y}"


def _month_add(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


def _last_day(year: int, month: int) -> date:
    return date(year, month, _stdcal.monthrange(year, month)[1])


def period(every: str, year: int, number: int, *, report_day: int, window: str, calendar: WorkCalendar) -> Period:
    """The ``number``-th period of ``every`` in ``year``."""
    if every not in _PER_YEAR or not 1 <= number <= _PER_YEAR[every]:
        raise ValueError(f"no period {number} of {every!r}")
    span = _MONTHS[every]
    last_month = number * span  # the last calendar month the period is named by
    first_year, first_month = _month_add(year, last_month, -(span - 1))
    if window == "nd09":
        from_year, from_month = _month_add(first_year, first_month, -1)
        window_from, window_to = date(from_year, from_month, 15), date(year, last_month, 14)
        due_year, due_month = year, last_month
    elif window == "calendar":
        window_from, window_to = date(first_year, first_month, 1), _last_day(year, last_month)
        due_year, due_month = _month_add(year, last_month, 1)
    else:
        raise ValueError(f"unknown window {window!r}")
    stated = date(due_year, due_month, report_day)
    return Period(every=every, year=year, number=number, window_from=window_from, window_to=window_to,
                  stated_due=stated, due=calendar.roll_forward(stated))


def following(p: Period, *, report_day: int, window: str, calendar: WorkCalendar) -> Period:
    """The period after ``p``."""
    year, number = (p.year, p.number + 1) if p.number < _PER_YEAR[p.every] else (p.year + 1, 1)
    return period(p.every, year, number, report_day=report_day, window=window, calendar=calendar)


def first_due_after(every: str, day: date, *, report_day: int, window: str, calendar: WorkCalendar) -> Period:
    """The first period whose due date falls after ``day``: the first occurrence of a series launched that day."""
    p = period(every, day.year - 1, 1, report_day=report_day, window=window, calendar=calendar)
    while p.due <= day:
        p = following(p, report_day=report_day, window=window, calendar=calendar)
    return p


def series(every: str, start: date, *, report_day: int, window: str, calendar: WorkCalendar,
           until: date | None = None) -> Iterator[Period]:
    """The periods from the first due after ``start``, up to the last whose due date does not pass ``until``."""
    p = first_due_after(every, start, report_day=report_day, window=window, calendar=calendar)
    while until is None or p.due <= until:
        yield p
        p = following(p, report_day=report_day, window=window, calendar=calendar)


def parse_name(name: str) -> tuple[str, int, int] | None:
    """``(every, year, number)`` of a period name: 2021-01 (a month), 2021-q1 (a quarter), 2021-h1 (a half-year),
    2021 (a year); None when ``name`` names no period."""
    name = name.strip().lower()
    head, sep, tail = name.partition("-")
    if not (head.isdigit() and len(head) == 4 and int(head) >= 1):
        return None
    if not sep:
        return "year", int(head), 1
    for every, prefix in (("quarter", "q"), ("half-year", "h"), ("month", "")):
        digits = tail[len(prefix):]
        if tail.startswith(prefix) and digits.isdigit() and (prefix or len(digits) == 2) \
                and 1 <= int(digits) <= _PER_YEAR[every]:
            return every, int(head), int(digits)
    return None


def by_name(every: str, name: str, *, report_day: int, window: str, calendar: WorkCalendar) -> Period | None:
    """The period an occurrence key names (2021-01, 2021-q1, 2021-h1, 2021); None if it names none of ``every``."""
    parsed = parse_name(name)
    if parsed is None or parsed[0] != every:
        return None
    return period(every, parsed[1], parsed[2], report_day=report_day, window=window, calendar=calendar)


def opens_on(previous: Period) -> date:
    """The day the occurrence after ``previous`` opens: the day after ``previous`` was due (as stated, before any
    extension), so a missed report does not hold back the next one."""
    return previous.due + timedelta(days=1)


def too_early(p: Period, calendar: WorkCalendar) -> date | None:
    """The earliest due date Art. 8.5 allows for ``p`` when its due date is earlier than that; None when it is not."""
    earliest = calendar.add_working_days(p.window_to, 1)
    return earliest if p.due < earliest else None


def schedule_text(every: str, report_day: int, window: str = "nd09") -> str:
    """The schedule as the notice states it: "báo cáo định kỳ hằng tháng, trước ngày 18"."""
    text = f"báo cáo định kỳ {EVERY_WORDS[every]}, trước ngày {report_day}"
    if window == "nd09":
        return text
    return text + (" của tháng sau kỳ báo cáo" if every == "month" else " của tháng đầu kỳ sau")


def span_of(name: str) -> tuple[date, date] | None:
    """The calendar dates a period name covers, for reports over a period: 2021-01 (a month), 2021-q1 (a quarter),
    2021-h1 (a half-year), 2021 (a year); None when ``name`` names none."""
    parsed = parse_name(name)
    if parsed is None:
        return None
    every, year, number = parsed
    span = _MONTHS[every]
    return date(year, (number - 1) * span + 1, 1), _last_day(year, number * span)


def span_label(name: str) -> str:
    """A period name as a report's title says it: tháng 01/2021, quý I năm 2021, 6 tháng đầu năm 2021, năm 2021."""
    name = name.strip().lower()
    head, _, tail = name.partition("-")
    if not tail:
        return f"năm {head}"
    if tail.startswith("q"):
        return f"quý {('I', 'II', 'III', 'IV')[int(tail[1:]) - 1]} năm {head}"
    if tail.startswith("h"):
        return f"6 tháng {'đầu' if tail == 'h1' else 'cuối'} năm {head}"
    return f"tháng {tail}/{head}"
