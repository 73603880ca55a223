"""The morning opening applies the catch-up rule to every case, not only on the agency's first run: a
backlog that came in months late is set aside for the leads, a case missed while the bot was down opens."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from service.ticker import Ticker
from storage.tables import M3Case
from tests.conftest import client_file, contract
from tests.scheduler.clock import paris, run


def created(engine, case_id: int, at) -> None:
    with Session(engine) as session, session.begin():
        session.get(M3Case, case_id).created_at = at


def test_a_backlog_imported_after_the_first_run_does_not_open_in_one_morning(engine, settings, cases, notifier):
    earlier = cases.factory.case(client_file(number="C0"), [contract(number="CT-0")], m3_date=date(2028, 4, 3))
    # ... opened: the agency's first run is long past
    missed = cases.unopened(date(2028, 4, 20))  # imported in time; the bot was down when it came due
    created(engine, missed, paris(20, 9, month=1))
    backlog = [cases.unopened(date(2028, month, 2)) for month in (1, 2, 3)]  # imported yesterday, months late
    for case_id in backlog:
        created(engine, case_id, paris(8, 15))

    run(Ticker(engine, notifier, settings, worker="w1"), paris(9, 8, 55), paris(9, 9, 5))

    with Session(engine) as session:
        rows = {case_id: session.get(M3Case, case_id) for case_id in (earlier, missed, *backlog)}
    assert rows[missed].opened_at == paris(9, 9)
    assert all(rows[c].opened_at is None and rows[c].out_of_time_at == paris(9, 9) for c in backlog)
    assert [c.case_id for c in notifier.calls if c.event == "case_opened"] == [missed]
