"""Parsing the times and dates people type on the command line."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from models.errors import InputError
from models.calendar.timerules import SEND_HOUR, wall_clock


def parse_now(text: str | None, tz: ZoneInfo, option: str = "--now") -> datetime:
    """An ISO instant; naive values are local time, and a bare date means 08:00 local."""
    if text is None:
        return wall_clock(tz)
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), SEND_HOUR, tzinfo=tz)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: {text!r} không phải là thời điểm ISO 8601 (ví dụ 2020-11-30T09:00+07:00)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option}: {text!r} không phải là ngày hợp lệ (YYYY-MM-DD)") from None


def split_target(target: str) -> tuple[str, str]:
    """``SLUG/KEY`` → (slug, key); ``SLUG/KEY/PERIOD`` names one period of a recurring report (key ``KEY/PERIOD``)."""
    slug, sep, key = target.strip().partition("/")
    if not sep or not slug or not key or key.count("/") > 1 or "" in key.split("/"):
        raise InputError(f"{target!r}: cần dạng SLUG/KEY hoặc SLUG/KEY/KỲ, ví dụ 2550-stttt-bctt/permit-review "
                         "hoặc 45-kh-ubnd/vnpt-monthly/2021-02")
    return slug, key
