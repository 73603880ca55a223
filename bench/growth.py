"""Benchmark 3: how the M+3 opening job, `/m3 mes-dossiers` and a lead's App Home grow with the agency.

The database is filled by `bench.bench_home`'s generator (cases over four years, 40 agents, their answers
and actions), then each is timed on it, in this process, as the bot runs it:

- the opening job: `service.opening.open_due` with the bot's notifier (card and first step
  queued), the same 50 cases being due whatever the size (its work is the due cases, not the others); the
  opened cases are put back between runs;
- `/m3 mes-dossiers`: `storage.worklists.agent_queue` and `bot.views.lists.my_cases` for one agent;
- a lead's App Home: `storage.dashboards.build_dashboard` and `bot.views.home.lead_home` for the default
  period (the last three months).

Each reports how many cases it shows (opens, lists, counts), so that its growth can be read against it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.bench_home import AGENTS, NOW, TODAY, TZ, lead_home_ms
from bench.figures import Spread
from bot.notifier import SlackNotifier
from bot.views.lists import CaseRow, my_cases
from config.settings import Settings
from service.opening import OpenDue, open_due
from service.unit_of_work import Backend, UnitOfWork
from storage.dashboards import DEFAULT_PERIOD, Period, build_dashboard
from storage.tables import Action, CallAttempt, ContractCheck, M3Case, Outbox, ProfileCheck, ProtectionCheck
from storage.worklists import agent_queue

DUE = 50  # cases due for opening, spread over the database
CATCH_UP_DAYS = 30
SETTINGS = Settings(_env_file=None, m3_channel="C0M3")


@dataclass(frozen=True)
class Timing:
    what: str
    cases: int  # in the database
    shown: int  # what it opens, lists or counts
    scanned: int  # what it has to look at to do so (the agent's open cases, the cases due...)
    ms: Spread


def timed(build: Callable[[], object], runs: int, reset: Callable[[], None] | None = None) -> Spread:
    """Milliseconds of `build` over `runs` runs after one warm-up; `reset` runs untimed before each."""
    samples = []
    for run in range(runs + 1):
        if reset is not None:
            reset()
        started = time.perf_counter()
        build()
        if run:  # the first one warms the pool and the statement caches
            samples.append((time.perf_counter() - started) * 1000)
    return Spread.of(samples)


def make_due(engine: Engine) -> list[int]:
    """DUE cases, spread over the database, become cases waiting for their M+3 call, due two days ago."""
    with engine.begin() as connection:
        total = connection.execute(sa.select(sa.func.count(M3Case.id))).scalar_one()
        ids = list(connection.execute(sa.select(M3Case.id).where(M3Case.id % (total // DUE) == 0)).scalars())
        for table in (Action, CallAttempt, ProfileCheck, ContractCheck, ProtectionCheck):
            connection.execute(sa.delete(table).where(table.case_id.in_(ids)))
        connection.execute(sa.update(M3Case).where(M3Case.id.in_(ids)).values(
            state="preparation", opened_at=None, out_of_time_at=None, closed_at=None, close_reason=None,
            admin_profile_done_at=None, admin_contracts_done_at=None, rebound_done_at=None,
            m3_date=TODAY - timedelta(days=2)))
    return ids


def unopen(engine: Engine, ids: list[int]) -> None:
    """Put the opened cases back as they were before the job ran."""
    with engine.begin() as connection:
        connection.execute(sa.delete(Outbox).where(Outbox.case_id.in_(ids)))
        # The trail is append-only (its triggers refuse DELETE): each run's case_opened entries stay.
        connection.execute(sa.update(M3Case).where(M3Case.id.in_(ids)).values(opened_at=None))


OPENING, MY_CASES, LEAD_HOME = "opening job (open_due)", "/m3 mes-dossiers", "lead App Home (3 months)"


def work(engine: Engine, what: str, due: list[int]) -> Callable[[], object]:
    """One run of `what` on `engine` as the bot does it (`due`: the cases the opening job must open)."""
    if what == OPENING:
        def opening() -> None:
            uow = UnitOfWork(Backend(engine, SlackNotifier(SETTINGS), SETTINGS), actor="scheduler", now=NOW)
            opened = open_due(OpenDue(TODAY, CATCH_UP_DAYS), uow)
            assert len(opened.due) == len(due), "every due case opens"
        return opening
    if what == MY_CASES:
        def my_list() -> None:
            with Session(engine) as session:
                queue = agent_queue(session, AGENTS[0], timezone=TZ)
            my_cases([CaseRow(r.case_id, r.client, r.state, r.urgent_on) for r in queue], TODAY)
        return my_list
    return lead_home_ms(engine, Period.preset(DEFAULT_PERIOD, TODAY))


def measure(engine: Engine, cases: int, runs: int) -> list[Timing]:
    """The three timings on the filled database `engine` of `cases` cases."""
    due = make_due(engine)
    agent = AGENTS[0]
    with Session(engine) as session:
        listed = len(agent_queue(session, agent, timezone=TZ))
        agent_open = session.execute(sa.select(sa.func.count(M3Case.id)).where(
            sa.or_(M3Case.agent == agent, M3Case.seller == agent), M3Case.opened_at.is_not(None),
            M3Case.state != "closed")).scalar_one()
        in_period = build_dashboard(session, Period.preset(DEFAULT_PERIOD, TODAY), today=TODAY,
                                    timezone=TZ).total.opened
    return [
        Timing(OPENING, cases, len(due), len(due), timed(work(engine, OPENING, due), runs,
                                                         reset=lambda: unopen(engine, due))),
        Timing(MY_CASES, cases, listed, agent_open, timed(work(engine, MY_CASES, due), runs)),
        Timing(LEAD_HOME, cases, in_period, in_period, timed(work(engine, LEAD_HOME, due), runs)),
    ]


def repeat(engine: Engine, what: str, seconds: float) -> None:
    """Run `what` over and over for `seconds` (for a profiler to watch)."""
    due = make_due(engine)
    run = work(engine, what, due)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what == OPENING:
            unopen(engine, due)
        run()


def per_case_us(timing: Timing) -> float:
    """Microseconds per case looked at: flat when the time grows with what it has to look at."""
    return 1000 * timing.ms.median / max(timing.scanned, 1)

