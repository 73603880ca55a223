"""Token buckets in the database: a burst, then the rate; a 429's hold; one budget for concurrent takers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from storage import pacing
from storage.pacing import Bucket
from tests.conftest import NOW

CHANNEL = Bucket("channel:C1", rate=1.0, burst=3)


def later(seconds: float):
    return NOW + timedelta(seconds=seconds)


def test_a_fresh_bucket_gives_its_burst_then_one_token_per_interval(engine):
    assert [pacing.acquire(engine, "T", [CHANNEL], now=NOW).wait for _ in range(3)] == [0, 0, 0]
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW).wait == 1.0
    assert pacing.acquire(engine, "T", [CHANNEL], now=later(0.5)).wait == 0.5
    assert pacing.acquire(engine, "T", [CHANNEL], now=later(1.0)).wait == 0


def test_a_call_takes_every_bucket_it_needs_or_none(engine):
    method = Bucket("method:chat.postMessage", rate=1.0, burst=1)
    other = Bucket("channel:C2", rate=1.0, burst=3)
    assert pacing.acquire(engine, "T", [method, CHANNEL], now=NOW).wait == 0
    assert pacing.acquire(engine, "T", [method, other], now=NOW).wait == 1.0  # the method is spent
    # C2 gave nothing to the refused call: its whole burst is still there.
    assert [pacing.acquire(engine, "T", [other], now=NOW).wait for _ in range(4)] == [0, 0, 0, 1.0]


def test_bulk_work_leaves_the_reserve_to_urgent_calls(engine):
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW, reserve=1).wait == 0
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW, reserve=1).wait == 0
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW, reserve=1).wait == 1.0  # one token left: not for bulk
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW).wait == 0  # an agent's message takes it


def test_a_hold_stops_the_bucket_until_retry_after_then_it_refills(engine):
    pacing.acquire(engine, "T", [CHANNEL], now=NOW)
    pacing.hold(engine, "T", CHANNEL.key, until=later(5), now=NOW)
    pacing.hold(engine, "T", CHANNEL.key, until=later(2), now=NOW)  # a shorter hold does not shorten it

    assert pacing.acquire(engine, "T", [CHANNEL], now=later(1)).wait == 4.0
    assert pacing.acquire(engine, "T", [CHANNEL], now=later(5)).wait == 0


def test_a_bucket_that_does_not_refill_is_spent_for_good(engine):
    uses = Bucket("url:abc", rate=0.0, burst=2)
    assert [pacing.acquire(engine, "T", [uses], now=later(s)).wait for s in (0, 1, 60)] == [0, 0, pacing.NEVER]


def test_workspaces_have_their_own_buckets_and_idle_ones_are_forgotten(engine):
    one = Bucket("url:one", rate=0.0, burst=1)
    assert pacing.acquire(engine, "T1", [one], now=NOW).wait == 0
    assert pacing.acquire(engine, "T2", [one], now=NOW).wait == 0
    assert pacing.forget(engine, "T1", "url:", idle=timedelta(hours=1), now=later(3600 * 2)) == 1
    assert pacing.acquire(engine, "T1", [one], now=later(3600 * 2)).wait == 0  # a new bucket
    assert pacing.acquire(engine, "T2", [one], now=later(3600 * 2)).wait == pacing.NEVER


def test_concurrent_takers_on_postgresql_share_one_budget(pg_engine):
    bucket = Bucket("method:chat.update", rate=0.0, burst=25)
    granted = [0, 0, 0, 0]
    start = threading.Barrier(len(granted))

    def take(index: int) -> None:
        start.wait()
        for _ in range(20):
            if pacing.acquire(pg_engine, "T", [bucket], now=NOW).wait == 0:
                granted[index] += 1

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(granted))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 25  # 80 tries, exactly the 25 tokens granted: no token given twice


def test_a_clock_moved_back_does_not_stall_a_bucket(engine):
    for _ in range(3):
        pacing.acquire(engine, "T", [CHANNEL], now=later(7200))
    pacing.hold(engine, "T", CHANNEL.key, until=later(7200 + 30), now=later(7200))

    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW).wait == 0  # two hours earlier: a full bucket again


def test_a_token_booked_ahead_is_taken_now_and_the_next_takers_time_comes_one_interval_later(engine):
    one = Bucket("channel:C3", rate=2.0, burst=1)
    assert pacing.acquire(engine, "T", [one], now=NOW) == pacing.Grant(0.0, taken=True)
    assert pacing.acquire(engine, "T", [one], now=NOW, within=0.5) == pacing.Grant(0.5, taken=True)
    assert pacing.acquire(engine, "T", [one], now=NOW, within=0.5) == pacing.Grant(1.0, taken=False)
    assert pacing.acquire(engine, "T", [one], now=later(0.25), within=0.5) == pacing.Grant(0.75, taken=False)
    assert pacing.acquire(engine, "T", [one], now=later(0.5), within=0.5) == pacing.Grant(0.5, taken=True)


def test_bulk_booked_ahead_leaves_the_reserve_at_its_time(engine):
    assert [pacing.acquire(engine, "T", [CHANNEL], now=NOW, reserve=1, within=1).wait for _ in range(3)] == [0, 0, 1]
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW, reserve=1, within=1).taken is False
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW, within=1) == pacing.Grant(1.0, taken=True)  # urgent: next


def test_a_held_bucket_is_not_booked_ahead(engine):
    pacing.hold(engine, "T", CHANNEL.key, until=later(1), now=NOW)
    assert pacing.acquire(engine, "T", [CHANNEL], now=NOW, within=5) == pacing.Grant(1.0, taken=False)
    assert pacing.acquire(engine, "T", [CHANNEL], now=later(1), within=5) == pacing.Grant(0.0, taken=True)


def test_concurrent_bookings_on_postgresql_get_times_one_interval_apart(pg_engine):
    bucket = Bucket("channel:C4", rate=10.0, burst=1)
    times: list[float] = []
    start = threading.Barrier(4)

    def book() -> None:
        start.wait()
        for _ in range(10):
            grant = pacing.acquire(pg_engine, "T", [bucket], now=NOW, within=60)
            assert grant.taken
            times.append(grant.wait)

    threads = [threading.Thread(target=book) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(times) == pytest.approx([n / 10 for n in range(40)])
