"""When the agency is open: weekdays that are not French public holidays, between its opening and closing
times, in its own time zone. Reminders other than booked callbacks only fire in such a slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

# A year never goes by without an open day; the bound only guards against a broken configuration.
_SEARCH_DAYS = 366


@lru_cache(maxsize=16)
def _public_holidays(year: int) -> frozenset[date]:
    # Every tick asks; building the calendar each time would dominate the scan.
    return frozenset(holidays.France(years=year))


@dataclass(frozen=True)
class AgencyHours:
    timezone: ZoneInfo
    opens: time
    closes: time

    @classmethod
    def parse(cls, timezone: str, opens: str, closes: str) -> AgencyHours:
        hours = cls(ZoneInfo(timezone), time.fromisoformat(opens), time.fromisoformat(closes))
        if hours.opens >= hours.closes:
            raise ValueError("the agency must open before it closes")
        return hours

    def local_day(self, at: datetime) -> date:
        return at.astimezone(self.timezone).date()

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _public_holidays(day.year)

    def morning(self, day: date) -> datetime:
        """The opening time of `day` (business day or not), aware, in the agency's zone."""
        return datetime.combine(day, self.opens, tzinfo=self.timezone)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.timezone)
        return self.is_business_day(local.date()) and self.opens <= local.time() < self.closes

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when the agency is open then, else the next opening time."""
        if at.tzinfo is None:
            raise ValueError("need an aware datetime")
        if self.is_open(at):
            return at
        local = at.astimezone(self.timezone)
        day = local.date() if local.time() < self.opens else local.date() + timedelta(days=1)
        for _ in range(_SEARCH_DAYS):
            if self.is_business_day(day):
                return self.morning(day)
            day += timedelta(days=1)
        raise RuntimeError("no open day within a year")

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after `day`."""
        return self.local_day(self.next_open(self.morning(day + timedelta(days=1))))
