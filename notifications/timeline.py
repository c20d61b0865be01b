"""The campaign timeline as an SVG: due dates, completions, and each message on its day.

A recurring report (issue 13) is one row, whatever its number of periods: a mark at each period's due date whose
look says how that period went, and the messages of all its occurrences on that row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from models.calendar.periods import schedule_text
from models.textcheck import shown
from notifications.templating import environment

RUNG_STYLE = {  # colour, the letter drawn in the mark, and the legend (short: 150 px each)
    "notice": ("#607d8b", "G", "giao nhiệm vụ"),
    "unacknowledged": ("#00897b", "T", "chưa tiếp nhận"),
    "reminder": ("#1e88e5", "N", "nhắc hạn"),
    "due-soon": ("#fb8c00", "S", "sắp đến hạn"),
    "overdue": ("#e53935", "Q", "quá hạn"),
    "escalation": ("#8e0000", "B", "báo cáo cấp trên"),
    "report-up": ("#6a1b9a", "V", "báo cáo VP UBND"),
    "declined": ("#6d4c41", "C", "đơn vị từ chối"),
    "review-request": ("#3949ab", "X", "đề nghị xác nhận"),
    "returned": ("#ad1457", "L", "trả lại"),
    "accepted": ("#2e7d32", "D", "đã xác nhận"),
}
LEGEND_PER_ROW = 6  # 150 px each, then the due-date and completion symbols on the last row
STATUS_FILL = {"red": "#e53935", "orange": "#fb8c00", "blue": "#1e88e5", "green": "#43a047", "grey": "#9e9e9e"}
# A period of a recurring report, by its flag (models/lifecycle/status.py): the class of its mark, fill, outline,
# the glyph drawn in it, and the words of its hover title. Flags missing here are periods not yet due.
PERIOD_STYLE = {
    "done_on_time": ("done-on-time", "#43a047", "#43a047", "✓", "hoàn thành đúng hạn"),
    "done_late": ("done-late", "#fb8c00", "#fb8c00", "✓", "hoàn thành quá hạn"),
    "overdue": ("overdue", "#e53935", "#e53935", "!", "quá hạn"),
    "reported": ("reported", "#1e88e5", "#1e88e5", "?", "đã báo cáo, chờ xác nhận"),
    "declined": ("declined", "#6d4c41", "#6d4c41", "×", "bị từ chối"),
    "cancelled": ("cancelled", "#bdbdbd", "#9e9e9e", "×", "đã hủy"),
}
NOT_DUE = ("not-due", "#ffffff", "#757575", "", "chưa đến hạn")
# The legend's row for recurring reports (drawn only when there is one): the period marks, 150 px each.
PERIOD_LEGEND = (("done_on_time", "hoàn thành đúng hạn"), ("done_late", "hoàn thành quá hạn"), ("overdue", "quá hạn"),
                 ("reported", "chờ xác nhận"), (None, "chưa đến hạn"), ("cancelled", "đã hủy"))


@dataclass
class PeriodMark:
    """One period of a recurring report: drawn at its due date, with how it went."""

    name: str  # 2021-01, 2021-q1, 2021-h1, 2021
    due: date
    flag: str
    done_on: date | None = None


@dataclass
class Lane:
    key: str
    title: str
    leads: str
    due: date | None  # None: a step still waiting, with due_in
    colour: str
    done_on: date | None = None
    earlier_dues: list[date] = field(default_factory=list)
    # Each message: its day and rung, and for a recurring report the period it was about (day, rung, period).
    marks: list[tuple[date, str] | tuple[date, str, str]] = field(default_factory=list)
    recurring: bool = False  # one row for a recurring report: its periods, no due date or completion of its own
    schedule: str = ""  # a recurring report's schedule, its label's hover title
    periods: list[PeriodMark] = field(default_factory=list)


def timeline_svg(*, title: str, start: date, end: date, lanes: list[Lane], days_off: list[date],
                 closed_on: date | None = None) -> str:
    """Draw lanes (one per assignment) over working days; days off are shaded."""
    left, day_width, lane_height, top = 300, 9, 46, 70
    days = (end - start).days + 1
    width = left + days * day_width + 20
    legend_rows = (len(RUNG_STYLE) + 2 + LEGEND_PER_ROW - 1) // LEGEND_PER_ROW  # + the two symbols
    recurring = any(lane.recurring for lane in lanes)
    height = top + lane_height * len(lanes) + 70 + 18 * (legend_rows - 1) + (18 if recurring else 0)
    edge = left + days * day_width + 9  # where a period due after the end is drawn, in the right margin

    def x(day: date) -> float:
        return left + (day - start).days * day_width + day_width / 2

    months = []
    day = start.replace(day=1)
    while day <= end:
        if day >= start:
            months.append({"x": x(day) - day_width / 2, "label": f"{day:%m/%Y}"})
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    lanes_view: list[dict[str, Any]] = []
    for i, lane in enumerate(lanes):
        y = top + i * lane_height + lane_height / 2
        if lane.recurring:
            lanes_view.append(_recurring_lane(lane, y=y, x=x, start=start, end=end, edge=edge))
            continue
        lanes_view.append({
            "y": y, "key": shown(lane.key), "title": shown(lane.title), "leads": shown(lane.leads),
            "due_x": x(lane.due) if lane.due and start <= lane.due <= end else None,
            "due": f"{lane.due:%d/%m}" if lane.due else "",
            "fill": STATUS_FILL[lane.colour],
            "done_x": x(lane.done_on) if lane.done_on and start <= lane.done_on <= end else None,
            "earlier": [x(d) for d in lane.earlier_dues if start <= d <= end],
            "bar_end": x(min(lane.done_on or end, end)),
            "marks": [{"x": x(d), "colour": RUNG_STYLE[r][0], "letter": RUNG_STYLE[r][1], "rung": RUNG_STYLE[r][2], "date": f"{d:%d/%m/%Y}"}
                      for d, r, *_ in lane.marks if r in RUNG_STYLE and start <= d <= end],
            "recurring": False,
        })
    return environment().get_template("timeline.svg.j2").render(
        title=shown(title), width=width, height=height, left=left, top=top, day_width=day_width,
        lane_height=lane_height, lanes=lanes_view, months=months,
        off=[x(d) - day_width / 2 for d in days_off if start <= d <= end],
        closed_x=x(closed_on) if closed_on and start <= closed_on <= end else None,
        legend=[{"colour": c, "letter": letter, "rung": label, "x": (i % LEGEND_PER_ROW) * 150,
                 "y": (i // LEGEND_PER_ROW) * 18} for i, (c, letter, label) in enumerate(RUNG_STYLE.values())],
        symbols_x=(len(RUNG_STYLE) % LEGEND_PER_ROW) * 150, symbols_y=(len(RUNG_STYLE) // LEGEND_PER_ROW) * 18,
        bottom=top + lane_height * len(lanes),
        period_legend=[{"x": 95 + i * 150, "label": label, **_period_look(flag)}
                       for i, (flag, label) in enumerate(PERIOD_LEGEND)] if recurring else [],
        period_legend_y=legend_rows * 18,
    )


def _period_look(flag: str | None) -> dict[str, str]:
    css, fill, stroke, glyph, words = PERIOD_STYLE.get(flag, NOT_DUE) if flag else NOT_DUE
    return {"css": css, "fill": fill, "stroke": stroke, "glyph": glyph, "words": words}


def _recurring_lane(lane: Lane, *, y: float, x, start: date, end: date, edge: float) -> dict[str, Any]:
    """A recurring report's row: a mark per period (one due after the end sits in the right margin), a line from
    each period done late to its completion, and the messages of every period: a second one on a day above the
    first, a third below the line."""
    periods = []
    for p in sorted(lane.periods, key=lambda p: p.due):
        if p.due < start:
            continue
        look = _period_look(p.flag)
        title = f"kỳ {p.name}: {look['words']} (hạn {p.due:%d/%m/%Y}"
        title += f", hoàn thành {p.done_on:%d/%m/%Y})" if p.done_on else ")"
        late = p.flag == "done_late" and p.done_on and p.due <= end
        periods.append({**look, "x": x(p.due) if p.due <= end else edge, "period": shown(p.name), "title": shown(title),
                        "late_x": x(min(p.done_on, end)) if late else None})
    marks, taken = [], {}
    order = list(RUNG_STYLE)
    for d, r, *period in sorted(lane.marks, key=lambda m: (m[0], order.index(m[1]) if m[1] in order else 0)):
        if r not in RUNG_STYLE or not start <= d <= end:
            continue
        colour, letter, label = RUNG_STYLE[r]
        row = taken[d] = taken.get(d, -1) + 1
        marks.append({"x": x(d), "colour": colour, "letter": letter, "rung": label, "date": f"{d:%d/%m/%Y}",
                      "period": shown(period[0]) if period else "", "dy": (-21, -33, 11)[min(row, 2)]})
    closed = lane.done_on if lane.done_on and start <= lane.done_on <= end else None
    return {"y": y, "key": shown(lane.key), "title": shown(lane.title), "leads": shown(lane.leads),
            "schedule": shown(lane.schedule), "fill": STATUS_FILL[lane.colour], "bar_end": x(closed or end),
            "earlier": [x(d) for d in lane.earlier_dues if start <= d <= end], "periods": periods, "marks": marks,
            "recurring": True}


def lanes_from_db(session, directive, *, until, rules) -> tuple[list[Lane], date | None]:
    """One lane per assignment with its sent messages and earlier due dates, one per recurring report where its
    first period stands (all its periods and their messages on it); and the closing day."""
    from sqlmodel import select

    from models.lifecycle.queries import agency_map, events_of, status_rows
    from models.store.tables import Assignment, Notification, Series

    names = {code: a.name for code, a in agency_map(session).items()}
    keys = dict(session.exec(select(Assignment.id, Assignment.key).where(Assignment.directive_id == directive.id)).all())
    marks: dict[str, list[tuple[date, str]]] = {}
    sent = session.exec(select(Notification).where(Notification.directive_id == directive.id,
                                                   Notification.state == "sent", Notification.assignment_id.is_not(None))).all()
    for row in sent:
        marks.setdefault(keys[row.assignment_id], []).append((rules.today(row.sent_at), row.rung))
    earlier: dict[str, list[date]] = {}
    for event, key in events_of(session, directive=directive):
        if event.kind == "extended" and key:
            earlier.setdefault(key, []).append(date.fromisoformat(event.payload["from"]))
    rows = status_rows(session, directive=directive, now=until, rules=rules)
    series = {s.key: s for s in session.exec(select(Series).where(Series.directive_id == directive.id)).all()}
    occurrences: dict[str, list] = {}
    for r in rows:
        if r.series:
            occurrences.setdefault(r.series, []).append(r)
    lanes = []
    for r in rows:
        if not r.series:
            lanes.append(Lane(key=r.key, title=r.title, leads=", ".join(names.get(c, c) for c in r.leads), due=r.due,
                              colour=r.colour, done_on=r.done_on, earlier_dues=earlier.get(r.key, []),
                              marks=marks.get(r.key, [])))
        elif r is occurrences[r.series][0]:
            lanes.append(_recurring(series[r.series], occurrences[r.series], names, marks, earlier))
    defined = {a.get("key"): a for a in directive.definition.get("assignments", [])}
    for key, s in series.items():  # still waiting for a step: no period yet
        if key not in occurrences:
            item = defined.get(key, {})
            lanes.append(Lane(key=key, title=item.get("title", ""), due=None, colour="grey", recurring=True,
                              leads=", ".join(names.get(c, c) for c in item.get("leads", [])),
                              schedule=schedule_text(s.every, s.report_day, s.window)))
    closed_on = rules.today(directive.closed_at) if directive.closed_at else None
    return lanes, closed_on


def _recurring(series, rows, names, marks, earlier) -> Lane:
    """A recurring report's lane from its occurrences' rows: red while a period is missing, else the latest's colour;
    once the report has ended with every period closed, its line stops at the last of them."""
    rows = sorted(rows, key=lambda r: r.due)
    latest = rows[-1]
    colour = "red" if any(r.flag == "overdue" for r in rows) else latest.colour
    closed = series.status in ("ended", "cancelled") and all(r.status in ("done", "cancelled") for r in rows)
    return Lane(
        key=series.key, title=latest.title, leads=", ".join(names.get(c, c) for c in latest.leads), due=None,
        colour=colour, done_on=max(r.done_on or r.due for r in rows) if closed else None,
        earlier_dues=[d for r in rows for d in earlier.get(r.key, [])],
        marks=[(d, rung, r.period) for r in rows for d, rung in marks.get(r.key, [])],
        recurring=True, schedule=schedule_text(series.every, series.report_day, series.window),
        periods=[PeriodMark(name=r.period, due=r.due, flag=r.flag, done_on=r.done_on) for r in rows],
    )


def days_off_between(start: date, end: date, rules) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)
            if not rules.calendar.is_working_day(start + timedelta(days=i))]
