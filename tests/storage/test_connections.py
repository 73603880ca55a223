"""PostgreSQL's pooled connections: checked before use only after being idle, a dead one replaced.

A connection's backend is ended from another session (`pg_terminate_backend`), as a database restart or a
firewall would end it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.db import make_engine
from tests.conftest import PG_ADMIN_URL

PID = sa.text("SELECT pg_backend_pid()")


@pytest.fixture
def admin() -> Iterator[Engine]:
    engine = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def pooled_backend(engine: Engine) -> int:
    """Use a connection of `engine`'s pool and give it back; the PostgreSQL process behind it."""
    with engine.connect() as connection:
        return connection.execute(PID).scalar_one()


def end_backend(admin: Engine, pid: int) -> None:
    with admin.connect() as connection:
        assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()


def test_a_connection_idle_for_long_is_checked_and_a_dead_one_replaced(admin: Engine) -> None:
    engine = make_engine(PG_ADMIN_URL, ping_after_idle=0.0)
    try:
        dead = pooled_backend(engine)
        end_backend(admin, dead)

        assert pooled_backend(engine) != dead  # the transaction ran on a new connection, nothing failed
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_used_without_a_check(admin: Engine) -> None:
    engine = make_engine(PG_ADMIN_URL)  # checked after 30 s idle
    try:
        used = pooled_backend(engine)
        end_backend(admin, used)

        # No round trip checked it: the transaction meets the dead connection and fails (its caller retries);
        # the pool's other connections are dropped with it, and the next transaction runs on a new one.
        with pytest.raises(sa.exc.OperationalError):
            pooled_backend(engine)
        assert pooled_backend(engine) != used
    finally:
        engine.dispose()
