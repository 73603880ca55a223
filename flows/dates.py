"""Days as the agency reads them: a moment seen in the agency's time zone, and the numeric French date
("02/06/2026") the command line, the exports, the compliance record and the engine's refusals show."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

NUMERIC = "%d/%m/%Y"


def local_day(value: date | datetime | None, zone: str | ZoneInfo) -> date | None:
    """The day `value` falls on in `zone` (a date is its own day); None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)).date()
    return value


def numeric_day(value: date | datetime | None, zone: str | ZoneInfo = "UTC", *, missing: str = "") -> str:
    """`value` as "dd/mm/yyyy", a moment first read in `zone`; `missing` when there is none."""
    day = local_day(value, zone)
    return day.strftime(NUMERIC) if day is not None else missing
