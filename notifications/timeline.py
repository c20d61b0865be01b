"""The campaign timeline as an SVG: due dates, completions, and each message on its day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from notifications.templating import environment

RUNG_STYLE = {  # colour, and the letter drawn in the mark
    "notice": ("#607d8b", "G"),
    "reminder": ("#1e88e5", "N"),
    "due-soon": ("#fb8c00", "S"),
    "overdue": ("#e53935", "Q"),
    "escalation": ("#8e0000", "B"),
    "report-up": ("#6a1b9a", "V"),
}
STATUS_FILL = {"red": "#e53935", "orange": "#fb8c00", "blue": "#1e88e5", "green": "#43a047", "grey": "#9e9e9e"}


@dataclass
class Lane:
    key: str
    title: str
    leads: str
    due: date
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
    height = top + lane_height * len(lanes) + 70

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
            "y": y, "key": lane.key, "title": lane.title, "leads": lane.leads,
            "due_x": x(lane.due) if start <= lane.due <= end else None, "due": f"{lane.due:%d/%m}",
            "fill": STATUS_FILL[lane.colour],
            "done_x": x(lane.done_on) if lane.done_on and start <= lane.done_on <= end else None,
            "earlier": [x(d) for d in lane.earlier_dues if start <= d <= end],
            "bar_end": x(min(lane.done_on or end, end)),
            "marks": [{"x": x(d), "colour": RUNG_STYLE[r][0], "letter": RUNG_STYLE[r][1], "rung": r, "date": f"{d:%d/%m/%Y}"}
                      for d, r in lane.marks if r in RUNG_STYLE and start <= d <= end],
        })
    return environment().get_template("timeline.svg.j2").render(
        title=title, width=width, height=height, left=left, top=top, day_width=day_width,
        lane_height=lane_height, lanes=lanes_view, months=months,
        off=[x(d) - day_width / 2 for d in days_off if start <= d <= end],
        closed_x=x(closed_on) if closed_on and start <= closed_on <= end else None,
        legend=[{"colour": c, "letter": letter, "rung": r} for r, (c, letter) in RUNG_STYLE.items()],
        bottom=top + lane_height * len(lanes),
    )
