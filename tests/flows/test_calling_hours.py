from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.calling_hours import (
    client_holidays,
    client_timezone,
    is_legal_call_time,
    legal_slots,
    next_legal_call_time,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_weekday_morning_is_legal_in_paris():
    assert is_legal_call_time(paris(2026, 11, 27, 10, 0), "75011")


@pytest.mark.parametrize("hour_minute", [(9, 59), (13, 0), (13, 30), (20, 0), (21, 0)])
def test_call_refused_outside_the_two_slots(hour_minute):
    assert not is_legal_call_time(paris(2026, 11, 27, *hour_minute), "75011")


def test_call_refused_on_saturday():
    assert not is_legal_call_time(paris(2026, 11, 28, 11, 0), "75011")


def test_call_refused_on_a_public_holiday_in_alsace():
    good_friday = paris(2026, 4, 3, 11, 0)
    assert not is_legal_call_time(good_friday, "67000")
    assert not is_legal_call_time(good_friday, "57000")
    assert is_legal_call_time(good_friday, "75011")


def test_saint_stephen_is_a_holiday_only_in_alsace_moselle():
    assert date(2025, 12, 26) in client_holidays("68100", 2025)
    assert date(2025, 12, 26) not in client_holidays("75011", 2025)


def test_national_holiday_is_refused_everywhere():
    assert not is_legal_call_time(paris(2026, 7, 14, 11, 0), "75011")


def test_abolition_of_slavery_day_is_refused_in_guadeloupe_only():
    at = datetime(2026, 5, 27, 11, 0, tzinfo=ZoneInfo("America/Guadeloupe"))
    assert not is_legal_call_time(at, "97110")
    assert is_legal_call_time(at, "75011")


def test_the_client_time_zone_decides_overseas():
    # 15:00 in Paris is 10:00 in Guadeloupe (winter), 09:00 would be too early.
    assert is_legal_call_time(paris(2026, 11, 27, 15, 0), "97110")
    assert not is_legal_call_time(paris(2026, 11, 27, 14, 30), "97110")
    # 10:30 in Paris is 13:30 in Réunion: the lunch break.
    assert not is_legal_call_time(paris(2026, 11, 27, 10, 30), "97400")


@pytest.mark.parametrize(
    ("postcode", "zone"),
    [
        ("75011", "Europe/Paris"),
        ("97110", "America/Guadeloupe"),
        ("97133", "America/Guadeloupe"),
        ("97150", "America/Guadeloupe"),
        ("97200", "America/Martinique"),
        ("97300", "America/Cayenne"),
        ("97400", "Indian/Reunion"),
        ("97600", "Indian/Mayotte"),
        (None, "Europe/Paris"),
    ],
)
def test_postcode_gives_the_client_time_zone(postcode, zone):
    assert client_timezone(postcode) == ZoneInfo(zone)


def test_weekday_has_two_slots_in_local_time():
    slots = legal_slots(date(2026, 11, 27), "97400")
    reunion = ZoneInfo("Indian/Reunion")
    assert slots == [
        (datetime(2026, 11, 27, 10, tzinfo=reunion), datetime(2026, 11, 27, 13, tzinfo=reunion)),
        (datetime(2026, 11, 27, 14, tzinfo=reunion), datetime(2026, 11, 27, 20, tzinfo=reunion)),
    ]


def test_sunday_and_holidays_have_no_slot():
    assert legal_slots(date(2026, 11, 29), "75011") == []
    assert legal_slots(date(2026, 12, 25), "75011") == []


def test_friday_evening_moves_to_monday_morning():
    assert next_legal_call_time(paris(2026, 11, 27, 20, 30), "75011") == paris(2026, 11, 30, 10, 0)


def test_lunch_break_moves_to_two_pm():
    assert next_legal_call_time(paris(2026, 11, 27, 13, 0), "75011") == paris(2026, 11, 27, 14, 0)


def test_a_legal_time_is_kept_as_is():
    at = paris(2026, 11, 27, 11, 17)
    assert next_legal_call_time(at, "75011") == at


def test_christmas_eve_evening_skips_christmas_and_saint_stephen_in_alsace():
    assert next_legal_call_time(paris(2026, 12, 24, 21, 0), "67000") == paris(2026, 12, 28, 10, 0)
    assert next_legal_call_time(paris(2026, 12, 24, 21, 0), "75011") == paris(2026, 12, 28, 10, 0)
    assert next_legal_call_time(paris(2025, 12, 24, 21, 0), "67000") == paris(2025, 12, 29, 10, 0)
    assert next_legal_call_time(paris(2025, 12, 24, 21, 0), "75011") == paris(2025, 12, 26, 10, 0)


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError):
        is_legal_call_time(datetime(2026, 11, 27, 11, 0), "75011")


POSTCODES = ["75011", "67000", "57000", "97110", "97133", "97150", "97200", "97300", "97400", "97600", None]


@given(
    after=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    postcode=st.sampled_from(POSTCODES),
)
def test_next_legal_call_time_is_legal_and_not_before(after, postcode):
    found = next_legal_call_time(after, postcode)
    assert found >= after
    assert is_legal_call_time(found, postcode)
    # Either nothing had to move, or the call moved to the very start of a slot.
    local = found.astimezone(client_timezone(postcode))
    assert found == after or local.time() in (time(10), time(14))
    # No legal slot was skipped: one minute earlier (when it was already after `after`) is not legal.
    earlier = found - timedelta(minutes=1)
    assert earlier < after or not is_legal_call_time(earlier, postcode)
