"""Agency scorecards: how each lead agency did with what was due in a period, as of a date.

The Government Office's reports on assigned tasks split an agency's work four ways: done on time, done
late, not done within its deadline, not done and overdue. ``score`` is that rule as a pure function of
plain states (models/oversight/asof.py), and every view of the figures (``dondoc scorecard``, the period
report and its chart, the board, the digest) calls it, so they agree.

- An assignment belongs to the period in which it is due (its due date as of the date of the figures, so
  an extension moves it, and the count of extensions shows it).
- Co-leads each count the assignment as theirs.
- A cancelled assignment (its directive closed, or the coordinator stopped it) is counted in ``assigned``
  and in none of the four columns.
- A result reported and waiting for review counts by the day it was reported; a declined assignment is open.
- The completion rate is done on time ÷ due so far (done, or past its due date); None while nothing is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from models.calendar.workdays import WorkCalendar
from models.oversight.asof import State

# dondoc's default scale; a registry's `ratings:` replaces it (docs/schema.md). Each class needs a completion
# rate of at least `min`. The class names are those of the yearly evaluation (Decree 90/2020/NĐ-CP).
DEFAULT_RATINGS: tuple[dict[str, Any], ...] = (
    {"min": 0.9, "name": "Hoàn thành xuất sắc nhiệm vụ"},
    {"min": 0.7, "name": "Hoàn thành tốt nhiệm vụ"},
    {"min": 0.5, "name": "Hoàn thành nhiệm vụ"},
    {"min": 0.0, "name": "Không hoàn thành nhiệm vụ"},
)
NOT_RATED = "Chưa có nhiệm vụ đến hạn"

KEYS = ("agency", "name", "assigned", "on_time", "late", "open_in_time", "open_overdue", "completion_rate",
        "avg_days_late", "unacknowledged", "extensions_asked", "extensions_granted", "returned", "rank", "rating")

# Each key as the period report's table heads it (notifications/period_report.py).
LABELS = {"rank": "Hạng", "agency": "Mã", "name": "Cơ quan chủ trì", "assigned": "Được giao",
          "on_time": "Hoàn thành đúng hạn", "late": "Hoàn thành trễ hạn", "open_in_time": "Đang thực hiện trong hạn",
          "open_overdue": "Quá hạn chưa hoàn thành", "completion_rate": "Tỷ lệ đúng hạn",
          "avg_days_late": "Số ngày trễ bình quân", "unacknowledged": "Chưa tiếp nhận đúng hạn",
          "extensions_asked": "Xin gia hạn", "extensions_granted": "Được gia hạn", "returned": "Trả lại",
          "rating": "Xếp loại"}


@dataclass
class ScoreRow:
    agency: str
    name: str
    assigned: int = 0
    on_time: int = 0
    late: int = 0
    open_in_time: int = 0
    open_overdue: int = 0
    completion_rate: float | None = None
    avg_days_late: float | None = None
    unacknowledged: int = 0
    extensions_asked: int = 0
    extensions_granted: int = 0
    returned: int = 0
    rank: int = 0
    rating: str = NOT_RATED

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def due_so_far(self) -> int:
        return self.on_time + self.late + self.open_overdue


def classify(state: State, today: date) -> str | None:
    """Which of the four columns an assignment is in on ``today``; None when cancelled."""
    if state.status == "cancelled" or state.due is None:
        return None
    if state.status == "done":
        return "on_time" if state.done_on is not None and state.done_on <= state.due else "late"
    if state.status == "reported" and state.reported_on is not None:
        return "open_in_time" if state.reported_on <= state.due else "open_overdue"
    return "open_overdue" if today > state.due else "open_in_time"


def rating_of(rate: float | None, scale: Iterable[dict[str, Any]]) -> str:
    if rate is None:
        return NOT_RATED
    for step in scale:
        if rate >= step["min"] - 1e-9:
            return step["name"]
    return NOT_RATED


def score(states: Iterable[State], *, today: date, calendar: WorkCalendar, names: dict[str, str],
          scales: dict[str, list[dict[str, Any]]] | None = None, unacknowledged: dict[str, int] | None = None,
          extensions_asked: dict[str, int] | None = None, agency: str | None = None) -> list[ScoreRow]:
    """One row per lead agency over ``states`` (already those due in the period), ranked.

    ``scales`` maps an agency to its registry's rating scale (DEFAULT_RATINGS where it has none);
    ``unacknowledged`` and ``extensions_asked`` are counts per agency from the trail.
    """
    rows: dict[str, ScoreRow] = {}
    lateness: dict[str, list[int]] = defaultdict(list)
    spans: dict[tuple[date, date], int] = {}

    def between(start: date, end: date) -> int:  # many assignments share due dates: count each span once
        if (start, end) not in spans:
            spans[(start, end)] = calendar.working_days_between(start, end)
        return spans[(start, end)]

    for state in states:
        column = classify(state, today)
        leads = state.leads if len(state.leads) < 2 else dict.fromkeys(state.leads)
        for code in leads:
            if agency is not None and code != agency:
                continue
            row = rows.get(code) or rows.setdefault(code, ScoreRow(agency=code, name=names.get(code, code)))
            row.assigned += 1
            row.extensions_granted += state.extended
            row.returned += state.returned
            if column is None:
                continue
            setattr(row, column, getattr(row, column) + 1)
            if column == "late":
                lateness[code].append(between(state.due, state.done_on))
            elif column == "open_overdue":
                lateness[code].append(between(state.due, state.reported_on or today))
    for code, row in rows.items():
        row.unacknowledged = (unacknowledged or {}).get(code, 0)
        row.extensions_asked = (extensions_asked or {}).get(code, 0)
        row.completion_rate = round(row.on_time / row.due_so_far, 4) if row.due_so_far else None
        row.avg_days_late = round(sum(lateness[code]) / len(lateness[code]), 1) if lateness[code] else None
        row.rating = rating_of(row.completion_rate, (scales or {}).get(code) or DEFAULT_RATINGS)
    ranked = sorted(rows.values(), key=lambda r: (r.completion_rate is None, -(r.completion_rate or 0),
                                                  r.open_overdue, r.avg_days_late or 0, r.agency))
    for i, row in enumerate(ranked, 1):
        row.rank = i
    return ranked


def totals(states: Iterable[State], today: date) -> dict[str, int]:
    """The summary counts of a period: each assignment once, however many co-leads it has."""
    counts = {"assigned": 0, "on_time": 0, "late": 0, "open_in_time": 0, "open_overdue": 0, "cancelled": 0}
    for state in states:
        counts["assigned"] += 1
        counts[classify(state, today) or "cancelled"] += 1
    return counts
