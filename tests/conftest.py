"""Fixtures shared by the whole suite: migrated databases on SQLite and PostgreSQL, and data factories.

Each test session gets its own PostgreSQL database (several engineers and CI jobs share the server) and
its own SQLite file; tables are emptied before each test that uses them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flows.case import ClientFile, ClientType, Contract, Origin
from storage.db import make_engine, metadata, migrate, normalize_url
from storage.repository import create_case
from storage.tables import M3Case
from tests.support.trail import triggers_dropped

# In CI the property and fuzz tests replay the same examples run after run, so that a submission is judged
# on its code rather than on the draw; on a developer's machine they keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

PG_ADMIN_URL = os.environ.get("M3_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def _sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'm3.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _postgresql_database() -> Iterator[Engine]:
    name = f"m3test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(normalize_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def empty_tables(engine: Engine) -> None:
    names = [table.name for table in metadata().sorted_tables]
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
        return
    with triggers_dropped(engine), engine.begin() as connection:  # SQLite's triggers refuse to empty the trail
        for name in reversed(names):
            connection.exec_driver_sql(f"DELETE FROM {name}")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated, empty database, once on each backend."""
    engine = request.getfixturevalue(f"_{request.param}_database")
    empty_tables(engine)
    return engine


@pytest.fixture
def sqlite_engine(_sqlite_database: Engine) -> Engine:
    empty_tables(_sqlite_database)
    return _sqlite_database


@pytest.fixture
def pg_engine(_postgresql_database: Engine) -> Engine:
    empty_tables(_postgresql_database)
    return _postgresql_database


def client_file(**overrides: Any) -> ClientFile:
    values: dict[str, Any] = {
        "number": "C001",
        "client_type": ClientType.particulier,
        "last_name": "Martin",
        "first_name": "Claire",
        "civility": "Mme",
        "email": "claire.martin@example.fr",
        "phone": "+33612345678",
        "address": "3 rue des Lilas 69003 Lyon",
        "postcode": "69003",
        "account_manager": "gestion@agence.fr",
    }
    return ClientFile(**(values | overrides))


def contract(**overrides: Any) -> Contract:
    values: dict[str, Any] = {
        "number": "AUTO-1",
        "product": "auto",
        "formula": "tous risques",
        "subscribed_on": date(2026, 3, 2),
        "origin": Origin.chalandise,
        "signed": True,
        "missing_pieces": [],
        "seller": "vendeur@agence.fr",
    }
    return Contract(**(values | overrides))


class Factory:
    """Builds clients, contracts and cases straight in the database (committed)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def case(
        self,
        client: ClientFile | None = None,
        contracts: list[Contract] | None = None,
        *,
        m3_date: date = date(2026, 6, 2),
        agent: str | None = "vendeur@agence.fr",
        opened: bool = True,
    ) -> int:
        contracts = contracts or [contract()]
        with Session(self.engine) as session, session.begin():
            case_id = create_case(
                session,
                client or client_file(),
                contracts,
                m3_date=m3_date,
                seller=contracts[0].seller,
                agent=agent,
                now=NOW,
            )
            if opened:
                session.get(M3Case, case_id).opened_at = NOW
        return case_id


@pytest.fixture
def factory(engine: Engine) -> Factory:
    return Factory(engine)
