"""Agencies kept apart in the database: a session of one workspace neither sees nor changes another's rows."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from flows.steps.common import Fact
from service.unit_of_work import UnitOfWork
from storage import audit
from storage.repository import create_case
from storage.tables import AuditEntry, Client, Contract, M3Case, Workspace, utcnow
from storage.workspaces import WorkspaceRequired, WorkspaceUnknown, all_workspaces, for_team, resolve, session_for
from tests.conftest import NOW, client_file, contract


def two_agencies(engine) -> tuple[int, int, int, int]:
    """Workspaces A and B, each with a case of a client numbered alike (their own numbering): (A, B, A's case,
    B's case)."""
    with all_workspaces(engine) as session, session.begin():
        first, second = Workspace(team_id="T0AAA", created_at=utcnow()), Workspace(team_id="T0BBB", created_at=utcnow())
        session.add_all([first, second])
        session.flush()
        ids = first.id, second.id
    cases = []
    for workspace in ids:
        with session_for(engine, workspace) as session, session.begin():
            cases.append(create_case(session, client_file(), [contract()], m3_date=date(2026, 6, 2), now=NOW))
    return (*ids, *cases)


def test_each_agency_numbers_its_clients_and_contracts_its_own_way(engine) -> None:
    a, b, case_a, case_b = two_agencies(engine)

    with all_workspaces(engine) as session:
        owners = session.exec(select(Client.workspace_id, Client.number)).all()
        contracts = session.exec(select(Contract.workspace_id, Contract.number)).all()
    assert sorted(owners) == [(a, "C001"), (b, "C001")]
    assert sorted(contracts) == [(a, "AUTO-1"), (b, "AUTO-1")]


def test_a_session_of_one_agency_does_not_find_another_agencys_case(engine) -> None:
    a, b, case_a, case_b = two_agencies(engine)

    with session_for(engine, a) as session:
        assert session.get(M3Case, case_b) is None
        assert session.exec(select(M3Case.id)).all() == [case_a]
        # Joins and counts too: B's client is not there to join.
        joined = session.exec(select(M3Case.id).join(Client, Client.id == M3Case.client_id)).all()
        assert joined == [case_a]
        assert session.execute(sa.select(sa.func.count(Contract.id))).scalar_one() == 1


def test_a_session_of_one_agency_cannot_change_another_agencys_rows(engine) -> None:
    a, b, case_a, case_b = two_agencies(engine)

    with session_for(engine, a) as session, session.begin():
        changed = session.execute(sa.update(M3Case).where(M3Case.id == case_b).values(state="closed")).rowcount
        removed = session.execute(sa.delete(Contract).where(Contract.case_id == case_b)).rowcount
    assert (changed, removed) == (0, 0)
    with Session(engine) as session:
        assert session.get(M3Case, case_b).state == "preparation"


def test_a_row_added_for_another_agency_is_refused(engine) -> None:
    a, b, case_a, case_b = two_agencies(engine)

    with pytest.raises(ValueError), session_for(engine, a) as session, session.begin():
        session.add(Client(workspace_id=b, number="C002", client_type="particulier", last_name="X"))


def test_each_agency_has_its_own_trail_of_entries_of_no_case(engine) -> None:
    a, b, _, _ = two_agencies(engine)

    for workspace in (a, b, a):
        with UnitOfWork(engine, actor="test", workspace=workspace) as uow:
            uow.record([Fact("settings_changed", {})])
    with session_for(engine, a) as session:
        assert audit.global_chain(session).count == 2
    with session_for(engine, b) as session:
        assert audit.global_chain(session).count == 1
        assert {e.workspace_id for e in session.exec(select(AuditEntry))} == {b}


def test_a_command_without_an_agency_is_refused_when_there_are_several(engine) -> None:
    two_agencies(engine)

    with pytest.raises(WorkspaceRequired):
        resolve(engine, None)
    with pytest.raises(WorkspaceRequired), UnitOfWork(engine, actor="test"):
        pass
    with pytest.raises(WorkspaceUnknown):
        resolve(engine, "T0NOPE")
    assert resolve(engine, "T0BBB") != resolve(engine, "T0AAA")


def test_a_single_install_takes_its_first_team_and_no_other(engine) -> None:
    first = resolve(engine, None)  # a first run, before Slack is met

    with all_workspaces(engine) as session, session.begin():
        assert for_team(session, "T0OURS", adopt=True).id == first
    with all_workspaces(engine) as session, session.begin(), pytest.raises(WorkspaceUnknown):
        for_team(session, "T0THEIRS", adopt=True)
