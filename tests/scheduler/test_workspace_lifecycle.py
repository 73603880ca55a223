"""An agency's life on the service: stopped when it uninstalls the app (nothing fires, nothing is sent, its
data kept), resumed when its token works again, handed its data back, erased after its keeping period."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from config.agency import AgencySettings
from flows.steps.common import Fact
from service.agency_settings import ConfigureAgency, configure_agency
from service.ticker import Ticker
from service.unit_of_work import UnitOfWork
from service.workspaces import (
    EraseWorkspace,
    StopWorkspace,
    erase_stopped,
    erase_workspace,
    export_workspace,
    own_workspace,
    stop_workspace,
)
from storage import outbox
from storage.repository import create_case
from storage.tables import AuditEntry, Client, M3Case, Outbox, Workspace, WorkspaceErasure, utcnow
from storage.workspaces import all_workspaces, resolve, session_for
from tests.conftest import NOW, client_file, contract
from tests.scheduler.clock import paris, run
from tests.scheduler.conftest import make_settings

TUE = paris(9, 10)  # a Tuesday, 10:00 in Paris


def stop(engine, workspace: int | None = None) -> bool:
    return stop_workspace(StopWorkspace("app_uninstalled"), UnitOfWork(engine, actor="slack", workspace=workspace))


def test_a_stopped_agencys_reminders_wait_until_its_token_works_again(engine, settings, cases, notifier):
    cases.callback(paris(9, 15), now=TUE)
    ticker = Ticker(engine, notifier, settings)
    assert stop(engine) and not stop(engine)  # the second event of the two changes nothing

    assert ticker.tick(paris(9, 15)).fired == 0 and notifier.calls == []
    assert own_workspace(engine, "T0OURS", actor="m3bot run") is not None  # the start-up meets Slack again
    assert ticker.tick(paris(9, 15)).fired > 0


def test_a_stop_sets_aside_the_messages_still_queued(engine, factory):
    case_id = factory.case()
    with UnitOfWork(engine, actor="test") as uow:
        uow.enqueue("chat.postMessage", {"channel": "C0M3", "text": "x"})

    stop(engine)

    with Session(engine) as session:
        rows = session.exec(select(Outbox)).all()
        kept = session.get(M3Case, case_id)
    assert [(r.status, r.last_error) for r in rows] == [(outbox.FAILED, "workspace_stopped")]
    assert kept is not None


def two_agencies(engine) -> tuple[int, int]:
    with all_workspaces(engine) as session, session.begin():
        rows = [Workspace(team_id=team, created_at=utcnow()) for team in ("T0AAA", "T0BBB")]
        session.add_all(rows)
        session.flush()
        ids = rows[0].id, rows[1].id
    for workspace in ids:
        with session_for(engine, workspace) as session, session.begin():
            create_case(session, client_file(), [contract()], m3_date=NOW.date(), now=NOW)
        with UnitOfWork(engine, actor="test", workspace=workspace) as uow:
            uow.record([Fact("settings_changed", {"who": workspace})])
    return ids


def test_an_agencys_export_holds_its_rows_only_and_is_recorded(engine):
    a, b = two_agencies(engine)

    data = export_workspace(UnitOfWork(engine, actor="ops", workspace=a))

    json.dumps(data)  # JSON values throughout
    assert data["workspace"]["team_id"] == "T0AAA"
    assert {row["workspace_id"] for row in data["tables"]["client"] + data["tables"]["m3_case"]} == {a}
    assert [e["event"] for e in data["tables"]["audit_entry"]] == ["settings_changed", "workspace_exported"]
    assert "client_secret" not in data["tables"]


def test_an_agencys_erase_deletes_all_its_rows_and_nothing_of_the_others(engine):
    a, b = two_agencies(engine)

    erased = erase_workspace(EraseWorkspace(), UnitOfWork(engine, actor="ops", workspace=a))

    assert erased["m3_case"] == 1 and erased["audit_entry"] == 1
    with all_workspaces(engine) as session:
        assert session.exec(select(Client.workspace_id)).all() == [b]
        assert session.exec(select(M3Case.workspace_id)).all() == [b]
        assert {e.workspace_id for e in session.exec(select(AuditEntry))} == {b}
        assert session.exec(select(Workspace.team_id)).all() == ["T0BBB"]
        (log,) = session.exec(select(WorkspaceErasure)).all()
    assert (log.workspace_id, log.team_id, log.actor, log.reason) == (a, "T0AAA", "ops", "request")
    assert erase_workspace(EraseWorkspace(), UnitOfWork(engine, actor="ops", workspace=a)) is None


def test_the_trail_of_an_agency_not_erased_stays_append_only(engine):
    a, b = two_agencies(engine)
    erase_workspace(EraseWorkspace(), UnitOfWork(engine, actor="ops", workspace=a))

    with pytest.raises(sa.exc.DBAPIError), engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_entry WHERE workspace_id = :b"), {"b": b})


def test_an_uninstalled_agency_is_erased_once_its_keeping_period_is_over(engine):
    a, b = two_agencies(engine)
    stop(engine, a)
    later = utcnow() + timedelta(days=90)

    assert erase_stopped(engine, keep_days=91, now=later, actor="scheduler") == []
    assert erase_stopped(engine, keep_days=89, now=later, actor="scheduler") == [a]
    assert resolve(engine, None) == b


def test_no_case_opens_before_the_agency_chooses_its_channel_and_its_choice_is_followed(engine, cases, notifier):
    # A case opened long ago: the agency's first run is past, the morning opens what is due.
    cases.factory.case(client_file(number="C0"), [contract(number="CT-0")], m3_date=date(2028, 4, 3))
    due = cases.unopened(date(2028, 5, 9))
    ticker = Ticker(engine, notifier, make_settings(m3_channel=None), worker="w1")

    run(ticker, paris(9, 8, 55), paris(9, 9, 5))
    assert [c.event for c in notifier.calls if c.event == "case_opened"] == []
    configure_agency(ConfigureAgency(AgencySettings(m3_channel="C0M3", agency_opens="08:30"), by="U0ADMIN"),
                     UnitOfWork(engine, actor="slack:U0ADMIN"))
    run(ticker, paris(9, 9, 5), paris(9, 9, 10))

    assert [c.case_id for c in notifier.calls if c.event == "case_opened"] == [due]
    assert (ticker.settings.m3_channel, ticker.settings.agency_opens) == ("C0M3", "08:30")
