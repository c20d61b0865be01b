"""The calendar attachment that carries an assignment's due date."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar, Event


def due_date_calendar(data: dict[str, Any], *, now: datetime, domain: str) -> bytes:
    """An all-day event on the due date; re-sent with a higher SEQUENCE after an extension."""
    cal = Calendar()
    cal.add("prodid", "-//dondoc//dondoc//VI")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{data['uid']}@{domain}")
    event.add("sequence", data.get("sequence", 0))
    event.add("dtstamp", now)
    event.add("dtstart", data["due"])
    event.add("dtend", data["due"] + timedelta(days=1))
    event.add("summary", f"Hạn xử lý: {data['title']} ({data['number']})")
    event.add("description", data["action"])
    event.add("transp", "TRANSPARENT")
    cal.add_component(event)
    return cal.to_ical()
