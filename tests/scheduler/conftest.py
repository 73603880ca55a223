"""Fixtures of the scheduler tests: settings, and builders of cases in the states the reminders care about."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from config.settings import Settings
from flows.case import ActionKind, State
from service.reminders import sync_reminders
from storage.repository import load_case
from storage.tables import Action, Agent, Agreement, M3Case
from tests.conftest import Factory, client_file, contract
from tests.scheduler.recording import RecordingNotifier

AGENT = "agent@agence.fr"
OWNER = "owner@agence.fr"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "m3_channel": "CM3",
        "m3_leads": ["ULEAD1", "ULEAD2"],
        "agency_timezone": "Europe/Paris",
        "agency_opens": "09:00",
        "agency_closes": "18:00",
        "unreachable_after": 3,
    }
    return Settings(_env_file=None, **(values | overrides))


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


class Cases:
    """Cases written straight into the tables, in the state a test needs, their reminders synced."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.factory = Factory(engine)
        self._count = 0

    def _new(self, *, m3_date: date, opened: bool, **row: Any) -> int:
        self._count += 1
        n = self._count
        case_id = self.factory.case(
            client_file(number=f"C{n:04d}", last_name=f"Client{n}"),
            [contract(number=f"CT-{n:04d}", seller=AGENT)],
            m3_date=m3_date,
            agent=AGENT,
            opened=opened,
        )
        if row:
            with Session(self.engine) as session, session.begin():
                case = session.get(M3Case, case_id)
                for name, value in row.items():
                    setattr(case, name, value)
        return case_id

    def unopened(self, m3_date: date) -> int:
        return self._new(m3_date=m3_date, opened=False)

    def callback(self, at: datetime, *, now: datetime, client_requested: bool = False) -> int:
        case_id = self._new(m3_date=date(2028, 4, 3), opened=True, state=State.scheduled_callback.value,
                            callback_at=at, callback_client_requested=client_requested, caller=AGENT)
        self.sync(case_id, now)
        return case_id

    def with_actions(self, dues: list[tuple[ActionKind, date]], *, now: datetime) -> tuple[int, list[int]]:
        case_id = self._new(m3_date=date(2028, 4, 3), opened=True, state=State.action_plan.value)
        with Session(self.engine) as session, session.begin():
            rows = [Action(case_id=case_id, kind=kind.value, due_on=due, owner=OWNER, created_at=now,
                           created_by=AGENT) for kind, due in dues]
            # The plan followed a rebound the client agreed to: its commercial actions remind their owner.
            session.add(Agreement(case_id=case_id, at=now, by=AGENT, wording="Accord ?", agreed=True))
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
        self.sync(case_id, now)
        return case_id, ids

    def sync(self, case_id: int, now: datetime) -> None:
        with Session(self.engine) as session, session.begin():
            sync_reminders(session, load_case(session, case_id, lock=True, now=now), now, self.settings)


@pytest.fixture
def cases(engine: Engine, settings: Settings) -> Cases:
    return Cases(engine, settings)


@pytest.fixture
def pg_cases(pg_engine: Engine, settings: Settings) -> Cases:
    return Cases(pg_engine, settings)


def add_agents(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add_all([
            Agent(email=AGENT, display_name="Agent Un", slack_user_id="UAGENT"),
            Agent(email=OWNER, display_name="Responsable", slack_user_id="UOWNER"),
        ])

