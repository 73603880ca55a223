"""The benchmarks' data sets load into the current schema and make the work they claim to measure."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.bench_home import fill
from bench.delivery import prepare, queue_morning
from sandbox.slack_api import SlackStandIn
from storage.tables import M3Case, Outbox, Workspace
from storage.workspaces import OWNED


def test_the_bulk_data_set_belongs_to_the_single_agency(engine: Engine) -> None:
    fill(engine, 30)
    with Session(engine) as session:
        workspaces = session.execute(sa.select(Workspace.id)).scalars().all()
        assert len(workspaces) == 1
        for table in OWNED:
            owners = session.execute(sa.select(table.workspace_id).distinct()).scalars().all()
            assert set(owners) <= set(workspaces), table.__name__
        assert session.execute(sa.select(sa.func.count(M3Case.id))).scalar_one() == 30


def test_the_delivery_data_set_queues_each_opening_and_each_action_reminder(pg_engine: Engine) -> None:
    prepare(pg_engine, 6, 4)
    with SlackStandIn() as slack:
        queue_morning(pg_engine, slack)
    with Session(pg_engine) as session:
        rows = session.execute(sa.select(Outbox.method, Outbox.payload)).all()
    roles = Counter(payload.get("role") for method, payload in rows if method == "message.upsert")
    reminded = [payload["channel"] for method, payload in rows
                if method == "chat.postMessage" and payload["channel"].startswith("U0AG")]
    assert roles["card"] == roles["step:preparation"] == 6
    assert len(reminded) == 4  # each owner told of his action due today
