"""The working-day calendar: Monday to Friday, minus Vietnamese public holidays.

Counting follows the Civil Code 2015, Art. 147-148: a period of N working days
starts on the day after the trigger, and a deadline that falls on a day off
moves to the next working day.
"""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable
from datetime import date, timedelta

import holidays

ONE_DAY = timedelta(days=1)


class WorkCalendar:
    """Working days of one country, with configured extra days off and make-up days."""

    def __init__(
        self,
        days_off: Iterable[date] = (),
        makeup_days: Iterable[date] = (),
        country: str = "VN",
    ) -> None:
        self.days_off = frozenset(days_off)
        self.makeup_days = frozenset(makeup_days)
        self.country = country
        # holidays expands years lazily as they are queried.
        self._holidays = holidays.country_holidays(country)
        self._cache: dict[date, bool] = {}

    def is_working_day(self, day: date) -> bool:
        known = self._cache.get(day)
        if known is None:
            if day in self.makeup_days:
                known = True
            else:
                known = day.weekday() < 5 and day not in self._holidays and day not in self.days_off
            self._cache[day] = known
        return known

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += ONE_DAY
        while not self.is_working_day(day):
            day += ONE_DAY
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        day -= ONE_DAY
        while not self.is_working_day(day):
            day -= ONE_DAY
        return day

    def roll_forward(self, day: date) -> date:
        """``day`` itself if it is a working day, else the next one (Civil Code Art. 148)."""
        return day if self.is_working_day(day) else self.next_working_day(day)

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (before it when n < 0); ``day`` itself when n == 0."""
        step = self.next_working_day if n > 0 else self.previous_working_day
        for _ in range(abs(n)):
            day = step(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative, counting (end, start], when end < start."""
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start + ONE_DAY
        while day <= end:
            count += self.is_working_day(day)
            day += ONE_DAY
        return count

    def last_working_day_of_month(self, year: int, month: int) -> date:
        last = date(year, month, _stdcal.monthrange(year, month)[1])
        return last if self.is_working_day(last) else self.previous_working_day(last)

    def last_working_day_of_quarter(self, year: int, quarter: int) -> date:
        if quarter not in (1, 2, 3, 4):
            raise ValueError(f"quarter must be 1 to 4, not {quarter}")
        return self.last_working_day_of_month(year, quarter * 3)

