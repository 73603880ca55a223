"""The CSV import fuzzed: whatever the bytes, it reports or refuses, never crashes; and every row of an
export is either fully imported (client, contract and case, linked) or fully rejected with its line number,
never half-written."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.importer import REQUIRED_COLUMNS, NotALagonExport
from storage.tables import Client, Contract, M3Case
from tests.conftest import NOW, empty_tables
from tests.support.importing import import_csv

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GOOD = {
    "civilite": "Mme", "nom": "Durand", "prenom": "Léa", "type_client": "particulier",
    "email": "lea.durand@example.fr", "telephone": "06 12 34 56 78", "adresse": "1 rue Basse 69003 Lyon",
    "produit": "auto", "formule": "tiers", "date_souscription": "02/03/2026", "origine": "chalandise",
    "signature": "oui", "pieces_manquantes": "", "vendeur_email": "vendeur@agence.fr",
    "charge_clientele_email": "gestion@agence.fr",
}
OPTIONAL = ("code_postal", "siren", "naf", "date_resiliation")

# Cell contents an export can carry: separators, quotes, line breaks, NUL, accents, huge text, near-valid values.
cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", ";", ",", '"', "\n", "\x00", "é\u0301", "31/02/2026", "2026-03-02", "0590 12 34 56",
                     "professionnel", "tns", "non", "leads", "732829320", "62.01Z", "@", "x" * 5000]),
)
rows = st.lists(st.dictionaries(st.sampled_from(sorted(GOOD) + list(OPTIONAL)), cells, max_size=4),
                min_size=1, max_size=6)


def export(changes: list[dict[str, str]], *, extra_cells: list[int]) -> bytes:
    """An export whose row i is client F{i}, contract X{i}, with `changes[i]` applied over good values."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow([*REQUIRED_COLUMNS, *OPTIONAL])
    for i, change in enumerate(changes):
        values = {"numero_client": f"F{i}", "numero_contrat": f"X{i}", **GOOD} | change
        line = [values.get(column, "") for column in (*REQUIRED_COLUMNS, *OPTIONAL)]
        cut = extra_cells[i % len(extra_cells)] if extra_cells else 0
        writer.writerow(line[:cut] if cut < 0 else line + ["trop"] * cut)  # short and long rows too
    return out.getvalue().encode()


def line_numbers(data: bytes) -> list[int]:
    """The line each row of `export` is reported under (a quoted line break makes a row span lines)."""
    reader = csv.reader(io.StringIO(data.decode(), newline=""), delimiter=";")
    next(reader)
    return [reader.line_num for _ in reader]


@FUZZ
@given(data=st.binary(max_size=2000))
def test_any_bytes_are_refused_or_reported_never_a_crash(engine: Engine, data: bytes) -> None:
    empty_tables(engine)
    try:
        report = import_csv(engine, data, "fuzz.csv", now=NOW)
    except NotALagonExport as refusal:
        assert refusal.reason
    else:
        assert report.imported + report.updated + report.unchanged + len(report.rejected) >= 0


@FUZZ
@given(changes=rows, extra_cells=st.lists(st.integers(-20, 2), max_size=3))
def test_each_row_is_fully_imported_or_fully_rejected(engine: Engine, changes: list[dict[str, str]],
                                                      extra_cells: list[int]) -> None:
    empty_tables(engine)
    data = export(changes, extra_cells=extra_cells)
    report = import_csv(engine, data, "fuzz.csv", now=NOW)

    rejected_lines = {line for line, reason in report.rejected if reason}
    assert len(rejected_lines) == len(report.rejected)  # one reason per rejected line
    assert report.imported + len(report.rejected) == len(changes)
    with Session(engine) as session:
        for i, line in enumerate(line_numbers(data)):
            client = session.exec(select(Client).where(Client.number == f"F{i}")).first()
            contract = session.exec(select(Contract).where(Contract.number == f"X{i}")).first()
            if line in rejected_lines:
                assert client is None and contract is None, f"line {line} rejected but written"
            else:
                assert client is not None and contract is not None and contract.client_id == client.id
                case = session.get(M3Case, contract.case_id)
                assert case is not None and case.client_id == client.id
