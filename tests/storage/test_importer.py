"""The Lagon CSV import: encodings, separators, bad rows, re-imports, updates and case grouping."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from storage.importer import NotALagonExport, import_bytes, import_file, load_mapping
from storage.tables import AuditEntry, Client, Contract, M3Case
from tests.conftest import NOW

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
    return import_bytes(engine, data, "export.csv", now=NOW, **options)


def test_windows_1252_semicolon_file_imports_good_rows_and_reports_bad_ones_by_line(engine):
    report = import_file(engine, CP1252, now=NOW)

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
    import_file(engine, CP1252, now=NOW)
    with Session(engine) as session:
        audit_count = len(session.exec(select(AuditEntry)).all())

    report = import_file(engine, CP1252, now=NOW + timedelta(days=1))

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


def test_import_never_overwrites_client_data_updated_during_the_call(engine):
    load(engine, csv_bytes(row(email="")))
    with Session(engine) as session, session.begin():
        session.exec(select(Client)).one().phone = "+33699999999"

    load(engine, csv_bytes(row(contract="HAB-1", telephone="06 12 34 56 78")))

    with Session(engine) as session:
        client = session.exec(select(Client)).one()
        assert client.phone == "+33699999999"
        assert client.email == "lea.durand@example.fr"  # an empty field is completed


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
