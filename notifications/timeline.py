"""The campaign timeline as an SVG: due dates, completions, and each message on its day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

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


@dataclass
class Lane:
    key: str
    title: str
    leads: str
    due: date | None  # None: a step still waiting, with due_in
    colour: str
    done_on: date | None = None
    earlier_dues: list[date] = field(default_factory=list)
    marks: list[tuple[date, str]] = field(default_factory=list)


def timeline_svg(*, title: str, start: date, end: date, lanes: list[Lane], days_off: list[date],
                 closed_on: date | None = None) -> str:
    """Draw lanes (one per assignment) over working days; days off are shaded."""
    left, day_width, lane_height, top = 300, 9, 46, 70
    days = (end - start).days + 1
    width = left + days * day_width + 20
    legend_rows = (len(RUNG_STYLE) + 2 + LEGEND_PER_ROW - 1) // LEGEND_PER_ROW  # + the two symbols
    height = top + lane_height * len(lanes) + 70 + 18 * (legend_rows - 1)

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
        lanes_view.append({
            "y": y, "key": shown(lane.key), "title": shown(lane.title), "leads": shown(lane.leads),
            "due_x": x(lane.due) if lane.due and start <= lane.due <= end else None,
            "due": f"{lane.due:%d/%m}" if lane.due else "",
            "fill": STATUS_FILL[lane.colour],
            "done_x": x(lane.done_on) if lane.done_on and start <= lane.done_on <= end else None,
            "earlier": [x(d) for d in lane.earlier_dues if start <= d <= end],
            "bar_end": x(min(lane.done_on or end, end)),
            "marks": [{"x": x(d), "colour": RUNG_STYLE[r][0], "letter": RUNG_STYLE[r][1], "rung": RUNG_STYLE[r][2], "date": f"{d:%d/%m/%Y}"}
                      for d, r in lane.marks if r in RUNG_STYLE and start <= d <= end],
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
    )


def lanes_from_db(session, directive, *, until, rules) -> tuple[list[Lane], date | None]:
    """One lane per assignment with its sent messages and earlier due dates; and the closing day."""
    from sqlmodel import select

    from models.lifecycle.queries import agency_map, events_of, status_rows
    from models.store.tables import Assignment, Notification

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
    lanes = [Lane(key=r.key, title=r.title, leads=", ".join(names.get(c, c) for c in r.leads), due=r.due,
                  colour=r.colour, done_on=r.done_on, earlier_dues=earlier.get(r.key, []), marks=marks.get(r.key, []))
             for r in status_rows(session, directive=directive, now=until, rules=rules)]
    closed_on = rules.today(directive.closed_at) if directive.closed_at else None
    return lanes, closed_on


def days_off_between(start: date, end: date, rules) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)
            if not rules.calendar.is_working_day(start + timedelta(days=i))]
