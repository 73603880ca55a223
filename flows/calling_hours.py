"""When a consumer may be called (décret 2022-1313, art. D.223-9 of the Code de la consommation).

Weekdays only, 10:00-13:00 and 14:00-20:00 in the client's own time zone, never on a public holiday
of the client's territory; both come from his postcode (overseas departments, Alsace-Moselle).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from flows.validation import region_for_postcode

# Slots are half-open: a call may start at 10:00 but not at 13:00 sharp.
_SLOTS: tuple[tuple[time, time], ...] = ((time(10), time(13)), (time(14), time(20)))

_TIMEZONES = {
    "FR": "Europe/Paris",
    "GP": "America/Guadeloupe",
    "BL": "America/Guadeloupe",
    "MF": "America/Guadeloupe",
    "MQ": "America/Martinique",
    "GF": "America/Cayenne",
    "RE": "Indian/Reunion",
    "YT": "Indian/Mayotte",
    "PM": "America/Miquelon",
}

# Subdivision codes of `holidays.France` for each overseas region.
_OVERSEAS_SUBDIVISIONS = {
    "GP": "971",
    "MQ": "972",
    "GF": "973",
    "RE": "974",
    "YT": "976",
    "BL": "BL",
    "MF": "MF",
    "PM": "PM",
}

# No week goes by without a legal slot; this bound only guards against a broken calendar.
_SEARCH_DAYS = 30


def client_timezone(postcode: str | None) -> ZoneInfo:
    return ZoneInfo(_TIMEZONES[region_for_postcode(postcode)])


def _subdivision(postcode: str | None) -> str | None:
    region = region_for_postcode(postcode)
    if region != "FR":
        return _OVERSEAS_SUBDIVISIONS[region]
    code = (postcode or "").replace(" ", "")
    # Alsace-Moselle keeps Good Friday and 26 December (local law).
    if code.startswith("57"):
        return "57"
    if code.startswith(("67", "68")):
        return "6AE"
    return None


def client_holidays(postcode: str | None, years: int | list[int]) -> holidays.HolidayBase:
    """The public holidays of the client's territory for the given year(s)."""
    return holidays.France(subdiv=_subdivision(postcode), years=years)


@lru_cache(maxsize=256)
def _holiday_dates(subdivision: str | None, year: int) -> frozenset[date]:
    # Every slot check needs the year's calendar; building it each time would dominate the scheduler's scans.
    return frozenset(holidays.France(subdiv=subdivision, years=year))


def _local(at: datetime, postcode: str | None) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("calling hours need an aware datetime")
    return at.astimezone(client_timezone(postcode))


def legal_slots(day: date, postcode: str | None) -> list[tuple[datetime, datetime]]:
    """The legal calling slots of one day in the client's time zone (none on weekends and holidays)."""
    if day.weekday() >= 5 or day in _holiday_dates(_subdivision(postcode), day.year):
        return []
    zone = client_timezone(postcode)
    return [
        (datetime.combine(day, start, tzinfo=zone), datetime.combine(day, end, tzinfo=zone))
        for start, end in _SLOTS
    ]


def is_legal_call_time(at: datetime, postcode: str | None) -> bool:
    local = _local(at, postcode)
    return any(start <= local < end for start, end in legal_slots(local.date(), postcode))


def next_legal_call_time(after: datetime, postcode: str | None) -> datetime:
    """The earliest legal time at or after `after`, in the client's time zone."""
    local = _local(after, postcode)
    for offset in range(_SEARCH_DAYS):
        for start, end in legal_slots(local.date() + timedelta(days=offset), postcode):
            if end > local:
                return max(start, local)
    raise RuntimeError("no legal calling slot found in the next 30 days")
