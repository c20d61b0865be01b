"""The working-day calendar: Monday to Friday, minus Vietnamese public holidays.

Counting follows the Civil Code 2015, Art. 147-148: a period of N working days
starts on the day after the trigger, and a deadline that falls on a day off
moves to the next working day.
"""

from __future__ import annotations

import calendar as _stdcal
import sys
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

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
        self._public: Any = None  # the holidays table, loaded on first use (see _holidays)
        self._cache: dict[date, bool] = {}

    @property
    def _holidays(self) -> Any:
        # Loaded on first use: a command that never counts days (events, outbox) never pays for it.
        # holidays expands years lazily as they are queried.
        if self._public is None:
            self._public = public_holidays(self.country)
        return self._public

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



def public_holidays(country: str) -> Any:
    """The ``holidays`` table of ``country``, as ``holidays.country_holidays(country)`` returns it.

    Vietnam's is loaded from its own module: the package ``holidays.countries``
    imports all of its ~250 countries on first use, which costs a command
    that only shows a table more than the rest of its start-up (measured:
    about 150 ms against 25 ms). The class is the library's own, with the same
    defaults, so the days are the same (tests/test_workdays.py compares them);
    anything unexpected falls back to the library's lookup.
    """
    import holidays

    if country == "VN" and "holidays.countries" not in sys.modules:
        try:
            return _vietnam()()
        except Exception:  # noqa: BLE001 - a layout this shortcut does not know: take the library's way
            pass
    return holidays.country_holidays(country)


def _vietnam() -> Any:
    import importlib.util
    from pathlib import Path

    import holidays

    name = "holidays.countries.vietnam"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(holidays.__file__).parent / "countries" / "vietnam.py")
        module = importlib.util.module_from_spec(spec)
        # Registered under its own name, as an import would: pickling finds the class, and a later
        # `import holidays.countries` reuses this module instead of making a second Vietnam class.
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return module.VN  # the alias class holidays.country_holidays("VN") builds
