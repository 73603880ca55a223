"""Retention counts from the client's last activity (last contract end, last event of a call): a case left
open or never opened does not keep him for ever, and reading or exporting his data is no activity."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from flows.case import State
from service.rgpd import EraseClient, ExportClient, Purge, erase_client, export_client, purge
from service.unit_of_work import UnitOfWork
from storage import audit, rgpd
from storage import tables as rows
from storage.queries import mark_out_of_time
from tests.conftest import NOW, client_file, contract
from tests.storage.test_importer import FIRST_IMPORT, LATER, csv_bytes, row
from tests.support.importing import import_csv

PURGE_DAY = datetime(2032, 6, 1, 8, 0, tzinfo=UTC)  # more than 5 years after NOW (15 June 2026)
ENDED = date(2026, 5, 1)


def candidates(engine, now=PURGE_DAY) -> list[int]:
    with Session(engine) as session:
        return rgpd.purge_candidates(session, retention_years=5, now=now)


def client_of(engine, case_id: int) -> int:
    with Session(engine) as session:
        return session.get(rows.M3Case, case_id).client_id


def test_a_case_set_aside_as_out_of_time_and_never_closed_does_not_keep_the_client(factory, engine):
    case_id = factory.case(contracts=[contract(terminated_on=ENDED)], m3_date=date(2026, 1, 2), opened=False)
    with Session(engine) as session, session.begin():
        mark_out_of_time(session, [case_id], now=NOW, actor="import")

    (erasure,) = purge(Purge(5), lambda: UnitOfWork(engine, actor="scheduler", now=PURGE_DAY))

    assert erasure.case_ids == [case_id]
    with Session(engine) as session:
        case = session.get(rows.M3Case, case_id)
        assert case.state == State.closed.value  # it can never open on an erased client
        assert session.get(rows.Client, case.client_id).last_name != "Martin"


def test_a_case_opened_then_left_without_a_call_for_years_does_not_keep_the_client(factory, engine):
    case_id = factory.case(contracts=[contract(terminated_on=ENDED)])  # opened on 15 June 2026, never called

    (erasure,) = purge(Purge(5), lambda: UnitOfWork(engine, actor="scheduler", now=PURGE_DAY))

    assert erasure.case_ids == [case_id]


def test_reading_or_exporting_the_client_is_no_activity(factory, engine):
    case_id = factory.case(client_file(number="C9"), [contract(terminated_on=ENDED)])
    export_client(ExportClient("C9"), UnitOfWork(engine, actor="chef@agence.fr", now=datetime(2032, 5, 1, tzinfo=UTC)))

    assert candidates(engine) == [client_of(engine, case_id)]


@pytest.mark.parametrize(
    ("event", "kept"),
    [("action_completed", True), ("case_closed", True), ("attempt_recorded", True), ("case_opened", False),
     ("case_created", False), ("contract_updated", False)],
)
def test_the_last_event_of_a_call_keeps_the_client_bookkeeping_does_not(factory, engine, event, kept):
    case_id = factory.case(contracts=[contract(terminated_on=ENDED)])
    with Session(engine) as session, session.begin():
        audit.append(session, event, {}, actor="vendeur@agence.fr", case_id=case_id,
                     client_id=client_of(engine, case_id), at=datetime(2028, 1, 5, tzinfo=UTC))

    assert (candidates(engine) == []) is kept


def test_a_contract_in_force_or_ended_within_the_period_keeps_the_client(factory, engine):
    factory.case(client_file(number="C1"), [contract(number="A-1")])  # no end date: in force
    factory.case(client_file(number="C2"), [contract(number="A-2", terminated_on=date(2028, 3, 1))])
    assert candidates(engine) == []


def test_erasure_clears_the_values_a_later_import_replaced(engine):
    import_csv(engine, csv_bytes(row()), "export.csv", now=FIRST_IMPORT)
    import_csv(engine, csv_bytes(row(**LATER)), "export.csv", now=NOW)

    erase_client(EraseClient("C1"), UnitOfWork(engine, actor="chef@agence.fr", now=NOW))

    with Session(engine) as session:
        entry = session.exec(select(rows.AuditEntry).where(rows.AuditEntry.event == "client_updated")).one()
    held = str(entry.data)
    for value in ("lea.durand@example.fr", "lea@durand-conseil.fr", "+33612345678", "+33472000000", "rue Haute"):
        assert value not in held
