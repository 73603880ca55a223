"""Who calls (M3_CALLER): the account manager the import names by default, the seller when the agency says so
or when no account manager is named; a changed rule applies to the cases still to open, never to opened ones."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.queries import CALLER_RULE_EVENT, apply_caller_rule
from storage.tables import AuditEntry, M3Case
from tests.conftest import NOW
from tests.storage.test_importer import csv_bytes, load, row


def agents(engine) -> dict[int, str | None]:
    with Session(engine) as session:
        return dict(session.exec(select(M3Case.id, M3Case.agent).order_by(M3Case.id)).all())


def test_the_account_manager_calls_by_default_and_the_seller_when_none_is_named(engine):
    load(engine, csv_bytes(row("C1", "AUTO-1"), row("C2", "AUTO-2", charge_clientele_email="")))

    assert list(agents(engine).values()) == ["gestion@agence.fr", "vendeur@agence.fr"]


def test_an_agency_may_have_the_seller_call(engine):
    load(engine, csv_bytes(row("C1", "AUTO-1")), caller_rule="seller")

    assert list(agents(engine).values()) == ["vendeur@agence.fr"]


def test_an_account_manager_named_by_a_later_export_calls_the_case_still_to_open(engine):
    load(engine, csv_bytes(row("C1", "AUTO-1", charge_clientele_email="")))
    load(engine, csv_bytes(row("C1", "AUTO-1")))

    assert list(agents(engine).values()) == ["gestion@agence.fr"]
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.event == "case_caller_assigned")).one()
    assert entry.data == {"from": "vendeur@agence.fr", "to": "gestion@agence.fr", "rule": "account_manager"}


def test_a_changed_rule_moves_the_cases_still_to_open_and_leaves_opened_ones(engine):
    load(engine, csv_bytes(row("C1", "AUTO-1"), row("C2", "AUTO-2")))
    waiting, opened = agents(engine)
    with Session(engine) as session, session.begin():
        session.get(M3Case, opened).opened_at = NOW
        assert apply_caller_rule(session, "account_manager", actor="m3bot run") == 0  # first record: no change

    with Session(engine) as session, session.begin():
        assert apply_caller_rule(session, "account_manager", actor="m3bot run") is None  # unchanged: nothing
        assert apply_caller_rule(session, "seller", actor="m3bot run") == 1

    assert agents(engine) == {waiting: "vendeur@agence.fr", opened: "gestion@agence.fr"}
    with Session(engine) as session:
        recorded = session.exec(select(AuditEntry.data).where(AuditEntry.event == CALLER_RULE_EVENT)
                                .order_by(AuditEntry.id)).all()
    assert recorded == [{"rule": "account_manager", "previous": None}, {"rule": "seller", "previous": "account_manager"}]
