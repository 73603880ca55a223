"""Slack's rate limits as token buckets in the database, so that every deliverer of a workspace shares one budget.

A bucket (one per Web API method, one per channel for `chat.postMessage`) holds up to `burst` tokens and
gains `rate` a second; a `response_url`'s five uses are counted down by `take_use`. `acquire` takes one token from each bucket a
call needs, all or none, under a row lock (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite the write
transaction starts with `BEGIN IMMEDIATE`, which serialises it), and otherwise says how long to wait. A
caller may book a token a little ahead (`within`): it takes it now for a call at the time the token comes,
and the bucket stays below zero until then, so the next taker's time comes one interval later. Booking is
what keeps a busy channel's rate used to the full: the next call is ready when its token comes, rather than
asking again after it.
`hold` records a 429's `Retry-After`: the bucket gives nothing before then.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.db import insert_for
from storage.tables import SlackPace
from storage.workspaces import all_workspaces

NEVER = math.inf
CLOCK_SKEW = timedelta(minutes=1)  # beyond this, a bucket's time ahead of ours means our clock moved back
MAX_HOLD = timedelta(hours=1)  # no Retry-After is that long: a hold further ahead is a clock moved back


@dataclass(frozen=True)
class Bucket:
    key: str  # e.g. "method:chat.update", "channel:C0M3", "url:<digest>"
    rate: float  # tokens gained per second; 0: spent tokens never come back
    burst: float  # the most tokens it holds, what a fresh bucket starts with


def _locked(session: Session, team: str, keys: list[str]) -> dict[str, SlackPace]:
    query = select(SlackPace).where(SlackPace.team == team, SlackPace.bucket.in_(keys)).with_for_update()
    return {row.bucket: row for row in session.exec(query)}


@dataclass(frozen=True)
class Grant:
    wait: float  # seconds from now until the call may go (`NEVER`: a bucket that does not refill is spent)
    taken: bool  # the call's tokens are taken: it goes in `wait` seconds; else it asks again by then


def acquire(engine: Engine, team: str, buckets: Sequence[Bucket], *, now: datetime, reserve: float = 0.0,
            within: float = 0.0) -> Grant:
    """Take a token from each of `buckets` for a call due when they all have one, if that is at most
    `within` seconds away (0: now), or take none. `reserve` tokens are left in every bucket whose burst
    allows it, as of the call's time: bulk work keeps that headroom for the messages an agent is waiting for.
    A bucket held by a 429 is never booked ahead."""
    keys = sorted({bucket.key for bucket in buckets})  # one lock order for every process: no deadlock
    with all_workspaces(engine) as session, session.begin():
        rows = _locked(session, team, keys)
        if missing := [b for b in buckets if b.key not in rows]:
            session.execute(
                insert_for(engine)(SlackPace)
                .values([{"team": team, "bucket": b.key, "tokens": b.burst, "updated_at": now} for b in missing])
                .on_conflict_do_nothing()
            )
            rows = _locked(session, team, keys)
        wait, held, refilled = 0.0, False, {}
        for bucket in buckets:
            row = rows[bucket.key]
            # A clock moved back (a demo's, a badly synchronised host) leaves times far ahead: forget them.
            moved_back = row.updated_at - now > CLOCK_SKEW
            if row.held_until is not None and now < row.held_until < now + MAX_HOLD:
                wait, held = max(wait, (row.held_until - now).total_seconds()), True
                continue
            elapsed = max((now - row.updated_at).total_seconds(), 0.0)
            tokens = bucket.burst if moved_back else min(bucket.burst, row.tokens + elapsed * bucket.rate)
            need = 1.0 + min(reserve, max(bucket.burst - 1.0, 0.0))
            if tokens < need:
                wait = max(wait, (need - tokens) / bucket.rate if bucket.rate > 0 else NEVER)
            refilled[bucket.key] = tokens
        if held or wait > within:
            return Grant(wait, taken=False)
        for key, tokens in refilled.items():
            rows[key].tokens, rows[key].updated_at, rows[key].held_until = tokens - 1.0, now, None
        return Grant(wait, taken=True)


def take_use(engine: Engine, team: str, key: str, *, uses: int, now: datetime) -> bool:
    """Count one use of something allowed `uses` times (a response_url): True while some are left.
    One statement: the bucket is created with the first use, then spent down to zero."""
    statement = insert_for(engine)(SlackPace).values(team=team, bucket=key, tokens=uses - 1.0, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["team", "bucket"],
        set_={"tokens": SlackPace.tokens - 1.0, "updated_at": statement.excluded.updated_at},
        where=SlackPace.tokens >= 1.0,
    ).returning(SlackPace.tokens)
    with engine.begin() as connection:
        return uses >= 1 and connection.execute(statement).first() is not None


def hold(engine: Engine, team: str, key: str, *, until: datetime, now: datetime) -> None:
    """Slack answered 429: the bucket `key` is empty and gives nothing before `until`."""
    statement = insert_for(engine)(SlackPace).values(team=team, bucket=key, tokens=0.0, updated_at=now, held_until=until)
    excluded = statement.excluded
    with all_workspaces(engine) as session, session.begin():
        session.execute(statement.on_conflict_do_update(
            index_elements=["team", "bucket"],
            set_={"tokens": 0.0, "updated_at": excluded.updated_at,
                  "held_until": sa.case((SlackPace.held_until > excluded.held_until, SlackPace.held_until),
                                        else_=excluded.held_until)},
        ))


def forget(engine: Engine, team: str, prefix: str, *, idle: timedelta, now: datetime) -> int:
    """Delete the buckets named `prefix…` unused for `idle` (a response_url's bucket outlives it for nothing)."""
    with all_workspaces(engine) as session, session.begin():
        result = session.execute(sa.delete(SlackPace).where(
            SlackPace.team == team, SlackPace.bucket.startswith(prefix, autoescape=True),
            SlackPace.updated_at < now - idle,
        ))
        return result.rowcount
