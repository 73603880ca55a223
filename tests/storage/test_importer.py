"""The Lagon CSV import: encodings, separators, bad rows, re-imports, updates and case grouping."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from flows import commands as cmd
from flows.case import AttemptOutcome, ProfileAnswer
from flows.engine import handle
from flows.rules import Rules
from service.unit_of_work import unit_of_work
from storage.importer import NotALagonExport, load_mapping
from storage.tables import AuditEntry, Client, Contract, M3Case
from tests.conftest import NOW, Factory, client_file, contract
from tests.support.importing import import_csv, import_csv_file
from tests.support.opening import open_due_on

SELLER = "vendeur@agence.fr"

DATA = Path(__file__).parents[1] / "data"
CP1252 = DATA / "lagon_cp1252.csv"
HEADER = (
    "numero_client;civilite;nom;prenom;type_client;email;telephone;adresse;numero_contrat;produit;formule;"
    "date_souscription;origine;signature;pieces_manquantes;vendeur_email;charge_clientele_email"
)


def row(number: str = "C1", contract: str = "AUTO-1", subscribed: str = "02/03/2026", **changes: str) -> str:
    values = {
        "numero_client": number, "civilite": "Mme", "nom": "Durand", "prenom": "Léa", "type_client": "particulier",
        "email": "lea.durand@example.fr", "telephone": "06 12 34 56 78", "adresse": "1 rue Basse 69003 Lyon",
        "numero_contrat": contract, "produit": "auto", "formule": "tiers", "date_souscription": subscribed,
        "origine": "chalandise", "signature": "oui", "pieces_manquantes": "", "vendeur_email": "vendeur@agence.fr",
        "charge_clientele_email": "gestion@agence.fr",
    } | changes
    return ";".join(values.values())


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return "\r\n".join([header, *rows]).encode(encoding)


def load(engine, data: bytes, **options):
    return import_csv(engine, data, "export.csv", now=NOW, **options)


def test_windows_1252_semicolon_file_imports_good_rows_and_reports_bad_ones_by_line(engine):
    report = import_csv_file(engine, CP1252, now=NOW)

    assert (report.imported, report.updated, report.unchanged) == (4, 0, 0)
    assert [line for line, _ in report.rejected] == [4, 5, 6, 7, 8]
    reasons = dict(report.rejected)
    assert "origine" in reasons[4]
    assert "date_souscription" in reasons[5]
    assert "e-mail" in reasons[6]
    assert "téléphone" in reasons[7]
    assert "SIREN" in reasons[8]
    with Session(engine) as session:
        clients = {c.number: c for c in session.exec(select(Client))}
        assert sorted(clients) == ["C100", "C200", "C300"]  # nothing of a rejected row is written
        assert clients["C100"].last_name == "Dupré" and clients["C100"].first_name == "Hélène"
        assert clients["C100"].address == "12 rue de l’Église 75002 Paris"
        assert clients["C100"].phone == "+33612345678"
        assert clients["C200"].phone == "+262692123456"  # Réunion number read with the postcode's region
        assert (clients["C200"].siren, clients["C200"].naf) == ("732829320", "10.71C")
        contracts = {c.number: c for c in session.exec(select(Contract))}
        assert contracts["AUTO-100"].formula == "tous risques – zone urbaine"
        assert contracts["HAB-100"].missing_pieces == ["justificatif de domicile", "RIB et mandat SEPA"]
        assert contracts["HAB-100"].signed is False and contracts["HAB-100"].origin == "recommandation"
        # The two contracts of C100, 18 days apart, share one case dated from the first.
        assert contracts["AUTO-100"].case_id == contracts["HAB-100"].case_id
        case = session.get(M3Case, contracts["AUTO-100"].case_id)
        assert case.m3_date == date(2026, 6, 2) and case.state == "preparation" and case.opened_at is None
        assert len(session.exec(select(M3Case)).all()) == 3


def test_reimporting_the_same_file_changes_nothing(engine):
    import_csv_file(engine, CP1252, now=NOW)
    with Session(engine) as session:
        audit_count = len(session.exec(select(AuditEntry)).all())

    report = import_csv_file(engine, CP1252, now=NOW + timedelta(days=1))

    assert (report.imported, report.updated, report.unchanged, len(report.rejected)) == (0, 0, 4, 5)
    with Session(engine) as session:
        assert len(session.exec(select(AuditEntry)).all()) == audit_count
        assert len(session.exec(select(M3Case)).all()) == 3


def test_later_import_of_a_contract_updates_it_and_audits_the_change(engine):
    load(engine, csv_bytes(row(signature="non", pieces_manquantes="RIB")))

    # Same contract, now signed, in a UTF-8 export with BOM and commas.
    header = HEADER.replace(";", ",")
    later = row(signature="oui", pieces_manquantes="").replace(";", ",")
    report = load(engine, b"\xef\xbb\xbf" + csv_bytes(later, header=header))

    assert (report.imported, report.updated, report.unchanged) == (0, 1, 0)
    with Session(engine) as session:
        contract = session.exec(select(Contract)).one()
        assert contract.signed is True and contract.missing_pieces == []
        entry = session.exec(select(AuditEntry).where(AuditEntry.event == "contract_updated")).one()
        assert entry.actor == "import" and entry.case_id == contract.case_id
        assert entry.data["changes"]["signed"] == [False, True]
        assert entry.data["changes"]["missing_pieces"] == [["RIB"], []]


FIRST_IMPORT = NOW - timedelta(days=20)
CALL = NOW - timedelta(days=3)  # Friday 12 June 2026, 11:30 in Paris: a legal calling slot
LATER = {"type_client": "professionnel", "email": "lea@durand-conseil.fr", "telephone": "04 72 00 00 00",
         "adresse": "5 rue Haute 69003 Lyon"}


def agent_answers(engine, answers: dict[str, tuple[ProfileAnswer, str | None]], when=CALL) -> None:
    """An agent calls the client of the only case and answers these client-file fields."""
    with Session(engine) as session, session.begin():
        session.exec(select(M3Case)).one().opened_at = FIRST_IMPORT
    with Session(engine) as session:
        case_id = session.exec(select(M3Case.id)).one()
    commands = [cmd.StartCall(caller=SELLER), cmd.RecordAttempt(AttemptOutcome.available),
                *(cmd.AnswerProfile(name, answer, value) for name, (answer, value) in answers.items())]
    for command in commands:
        with unit_of_work(engine, case_id=case_id, actor=SELLER, now=when) as uow:
            uow.record(handle(uow.case, command, actor=SELLER, now=when, rules=Rules()))


def client_of(engine) -> Client:
    with Session(engine) as session:
        return session.exec(select(Client)).one()


def test_a_later_export_changing_the_client_file_is_applied_and_audited(engine):
    import_csv(engine, csv_bytes(row()), "export.csv", now=FIRST_IMPORT)

    report = load(engine, csv_bytes(row(**LATER)))

    assert (report.updated, report.conflicts) == (1, [])
    client = client_of(engine)
    assert (client.client_type, client.email, client.phone, client.address) == (
        "professionnel", "lea@durand-conseil.fr", "+33472000000", "5 rue Haute 69003 Lyon")
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.event == "client_updated")).one()
    assert entry.actor == "import" and entry.client_id == client.id
    assert entry.data["changes"]["client_type"] == ["particulier", "professionnel"]
    assert entry.data["changes"]["phone"] == ["+33612345678", "+33472000000"]
    assert set(entry.data["changes"]) == {"client_type", "email", "phone", "address"}


def test_an_empty_export_cell_never_erases_the_client_file(engine):
    import_csv(engine, csv_bytes(row()), "export.csv", now=FIRST_IMPORT)
    load(engine, csv_bytes(row(email="", telephone="")))
    client = client_of(engine)
    assert (client.email, client.phone) == ("lea.durand@example.fr", "+33612345678")


def test_an_empty_field_is_completed_by_a_later_export(engine):
    import_csv(engine, csv_bytes(row(email="")), "export.csv", now=FIRST_IMPORT)
    load(engine, csv_bytes(row()))
    assert client_of(engine).email == "lea.durand@example.fr"
    with Session(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.event == "client_completed")).one()
    assert entry.data["changes"] == {"email": [None, "lea.durand@example.fr"]}


def test_a_value_the_agent_confirmed_or_modified_since_the_last_import_wins_and_is_reported(engine):
    import_csv(engine, csv_bytes(row()), "export.csv", now=FIRST_IMPORT)
    agent_answers(engine, {"phone": (ProfileAnswer.modified, "06 98 76 54 32"),
                           "email": (ProfileAnswer.confirmed, None)})

    report = load(engine, csv_bytes(row(contract="HAB-1", subscribed="05/03/2026"), row(**LATER)))

    client = client_of(engine)
    assert (client.phone, client.email) == ("+33698765432", "lea.durand@example.fr")  # the call's values
    assert (client.client_type, client.address) == ("professionnel", "5 rue Haute 69003 Lyon")  # the export's
    # Both lines of the client carry an export value the call corrected since: both are reported.
    (first, text_first), (line, text) = report.conflicts
    assert (first, line) == (2, 3) and "Téléphone" in text_first and "E-mail" not in text_first
    assert "Téléphone" in text and "E-mail" in text and SELLER in text and "12/06/2026" in text
    assert "98 76" not in text and "durand-conseil" not in text  # no personal value in the summary
    with Session(engine) as session:
        conflicts = session.exec(select(AuditEntry).where(AuditEntry.event == "import_conflict")
                                 .order_by(AuditEntry.id)).all()
    assert [c.data for c in conflicts] == [{"line": 2, "fields": ["phone"]}, {"line": 3, "fields": ["email", "phone"]}]
    assert {c.client_id for c in conflicts} == {client.id}


def test_an_agents_answer_older_than_the_previous_import_does_not_hold_back_the_export(engine):
    import_csv(engine, csv_bytes(row()), "export.csv", now=FIRST_IMPORT)
    agent_answers(engine, {"phone": (ProfileAnswer.modified, "06 98 76 54 32")})
    import_csv(engine, csv_bytes(row()), "export.csv", now=NOW)  # reported the conflict, kept the call's

    report = import_csv(engine, csv_bytes(row()), "export.csv", now=NOW + timedelta(days=7))

    assert report.conflicts == [] and client_of(engine).phone == "+33612345678"


def test_two_rows_with_one_contract_number_are_both_rejected_with_their_lines(engine):
    report = load(engine, csv_bytes(row(contract="AUTO-1"), row(number="C2", contract="HAB-2"),
                                    row(number="C3", contract="AUTO-1", nom="Petit")))

    assert report.imported == 1
    assert [line for line, _ in report.rejected] == [2, 4]
    reasons = dict(report.rejected)
    assert "ligne(s) 4" in reasons[2] and "ligne(s) 2" in reasons[4]
    with Session(engine) as session:
        assert session.exec(select(Contract.number)).all() == ["HAB-2"]
        assert session.exec(select(Client.number)).all() == ["C2"]


def test_every_import_sets_aside_the_cases_already_late_beyond_the_catch_up_window(engine):
    # An earlier opening run happened: this is not the agency's first import.
    Factory(engine).case(client_file(number="C0"), [contract(number="OLD-1")], m3_date=date(2026, 5, 2))
    backlog = [row(number="C1", contract="AUTO-1", subscribed="02/01/2026"),  # M+3 02/04: 74 days late
               row(number="C2", contract="AUTO-2", subscribed="01/03/2026"),  # M+3 01/06: 14 days late
               row(number="C3", contract="AUTO-3", subscribed="01/05/2026")]  # M+3 01/08: to come

    report = load(engine, csv_bytes(*backlog), catch_up_days=30)

    assert report.out_of_time == 1
    with Session(engine) as session:
        case_of = {c.number: session.get(M3Case, c.case_id) for c in session.exec(select(Contract))}
        entry = session.exec(select(AuditEntry).where(AuditEntry.event == "case_out_of_time")).one()
    assert case_of["AUTO-1"].out_of_time_at == NOW and entry.actor == "import"
    assert case_of["AUTO-2"].out_of_time_at is None and case_of["AUTO-3"].out_of_time_at is None
    # The next morning opens the case 14 days late, never the backlog.
    opened = open_due_on(engine, date(2026, 6, 16), now=NOW + timedelta(days=1))
    assert (opened.due, opened.out_of_time) == ([case_of["AUTO-2"].id], [])


def test_a_contract_sold_with_an_out_of_time_one_joins_its_case(engine):
    report = load(engine, csv_bytes(row(contract="AUTO-1", subscribed="02/01/2026"),
                                    row(contract="HAB-1", subscribed="20/01/2026")), catch_up_days=30)

    assert report.out_of_time == 1
    with Session(engine) as session:
        assert len(set(session.exec(select(Contract.case_id)).all())) == 1


def test_new_contract_joins_the_unopened_case_within_the_window_only(engine):
    load(engine, csv_bytes(row(contract="AUTO-1", subscribed="02/03/2026")))
    later = [row(contract="HAB-1", subscribed="25/03/2026"), row(contract="PJ-1", subscribed="20/04/2026")]
    load(engine, csv_bytes(*later))

    with Session(engine) as session:
        case_of = {c.number: c.case_id for c in session.exec(select(Contract))}
    assert case_of["AUTO-1"] == case_of["HAB-1"] != case_of["PJ-1"]


def test_new_contract_does_not_join_a_case_already_opened(engine):
    load(engine, csv_bytes(row(contract="AUTO-1")))
    with Session(engine) as session, session.begin():
        session.exec(select(M3Case)).one().opened_at = NOW

    load(engine, csv_bytes(row(contract="HAB-1", subscribed="05/03/2026")))

    with Session(engine) as session:
        assert len(set(session.exec(select(Contract.case_id)).all())) == 2


def test_contract_number_of_another_client_is_rejected(engine):
    load(engine, csv_bytes(row(number="C1")))
    report = load(engine, csv_bytes(row(number="C2")))

    assert [line for line, _ in report.rejected] == [2]
    with Session(engine) as session:
        assert session.exec(select(Client.number)).all() == ["C1"]


def test_agency_column_names_are_mapped_by_the_settings_file(sqlite_engine, tmp_path):
    mapping_file = tmp_path / "colonnes.yml"
    mapping_file.write_text("numero_client: N° client\nnumero_contrat: Police\n", encoding="utf-8")
    header = HEADER.replace("numero_client", "N° client").replace("numero_contrat", "Police")

    report = load(sqlite_engine, csv_bytes(row(), header=header), mapping=load_mapping(mapping_file))

    assert report.imported == 1


def test_a_file_that_is_not_a_lagon_export_is_refused_as_a_whole(sqlite_engine):
    with pytest.raises(NotALagonExport, match="numero_contrat"):
        load(sqlite_engine, b"nom;prenom\nDurand;Lea\n")
