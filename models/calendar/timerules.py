"""The time rules of one installation: its timezone and its working-day calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from models.settings import Settings
from models.calendar.workdays import WorkCalendar

SEND_HOUR = time(8, 0)


@dataclass(frozen=True)
class TimeRules:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    def today(self, now: datetime) -> date:
        """The business date of an instant."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.astimezone(self.tz).date()

    def at_send_hour(self, day: date) -> datetime:
        """08:00 local time on ``day``: when planned messages go out."""
        return datetime.combine(day, SEND_HOUR, tzinfo=self.tz)

    @classmethod
    def from_settings(cls, settings: Settings) -> TimeRules:
        return cls(tz=settings.tz, calendar=WorkCalendar(settings.days_off, settings.makeup_days))


def wall_clock(tz: ZoneInfo) -> datetime:
    """The one place that reads the real clock; shells call it when no --now is given."""
    return datetime.now(tz)
