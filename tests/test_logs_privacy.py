"""Personal data never reaches the logs: a whole call through Slack, with a refused input, a forged click,
the compliance record and the client's export and erasure, logged at DEBUG for every logger of ours; and the
error paths, where exceptions quote what they failed on: a database write failing in a listener, a Slack call
failing during delivery, a reminder failing, an import row failing. Everything logged is searched, the
records and whatever reached the process's stderr."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from bot.compliance_pdf import compliance_record
from bot.notifier import SlackNotifier
from bot.payloads import encode
from bot.views import ids
from flows.case import ClientType
from service.reminders import FAILED, Reminder
from service.rgpd import EraseClient, ExportClient, erase_client, export_client
from service.ticker import Ticker
from service.unit_of_work import UnitOfWork

# The bot's fixtures live in tests/bot/conftest.py; this test sits at the top because it covers every layer.
from tests.bot.conftest import harness, slack  # noqa: F401
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, wait_until
from tests.bot.test_call_scenarios import open_case
from tests.conftest import client_file, contract
from tests.storage.test_importer import csv_bytes, row

OUR_LOGGERS = ("bot", "storage", "flows", "scheduler", "config")
# The libraries under us, at the level the bot runs them (bot.runner: INFO; SQLAlchemy keeps itself at WARN).
LIBRARY_LOGGERS = ("slack_bolt", "slack_sdk", "alembic", "waitress")
CLIENT = {"number": "C4242", "client_type": ClientType.professionnel, "civility": "M.", "last_name": "Quillevéré",
          "first_name": "Ambroise", "email": "ambroise.quillevere@exemple.fr", "phone": "+33298765432",
          "address": "7 venelle des Korrigans 29200 Brest", "postcode": "29200", "siren": "732829320"}
LEAKS = ["Quillevéré", "Quillevere", "Ambroise", "ambroise.q", "+33298765432", "0298765432", "02 98 76 54 32",
         "venelle des Korrigans", "732829320", "732 829 320", "ambroise.q@exemple.fr", "pas-un-email"]


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def logs(caplog):
    # set_level also sets the capture handler's level: DEBUG last, so our debug lines are kept.
    for name in LIBRARY_LOGGERS:
        caplog.set_level(logging.INFO, logger=name)
    for name in OUR_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def logged(logs, capfd) -> Callable[[], str]:
    """Everything logged so far: each record with its traceback, and what reached stderr (tracebacks printed
    by a thread, a library's own handler)."""

    def everything() -> str:
        records = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in logs.records)
        return f"{records}\n{capfd.readouterr().err}"

    return everything


def leaks_in(output: str) -> list[str]:
    return [value for value in LEAKS if value.lower() in output.lower()]


@contextmanager
def failing_writes(engine: Engine, table: str) -> Iterator[None]:
    """Every insert into or update of `table` fails in the database itself (a trigger), as a full disk would:
    the statement's parameters, the client's data, are in hand when the error is raised."""
    if engine.dialect.name == "sqlite":
        create = [f"CREATE TRIGGER fault_{op} BEFORE {op} ON {table} BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
                  for op in ("INSERT", "UPDATE")]
        drop = ["DROP TRIGGER fault_INSERT", "DROP TRIGGER fault_UPDATE"]
    else:
        create = ["CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$ BEGIN RAISE EXCEPTION 'disk I/O error' USING ERRCODE = 'integrity_constraint_violation'; END $$",
                  f"CREATE TRIGGER fault BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION fault()"]
        drop = [f"DROP TRIGGER fault ON {table}", "DROP FUNCTION fault()"]
    with engine.begin() as connection:
        for statement in create:
            connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.exec_driver_sql(statement)


def test_a_whole_call_and_the_clients_rights_log_no_personal_data(harness, factory, logs):
    case_id = open_case(harness, factory, **CLIENT)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    email_row = list(call.case().client.profile_fields()).index("email")
    call.click("step:profile", ids.PROFILE_ANSWER, email_row, "modified")
    call.submit({ids.INPUT_VALUE: "pas-un-email"})  # refused under the field
    call.submit({ids.INPUT_VALUE: "ambroise.q@exemple.fr"})
    forged = harness.slack.block_actions(harness.agent_id, call.message("step:profile"),
                                         ids.PROFILE_VALIDATE, encode(case_id + 1000))
    assert harness.slack.send_interaction(forged).status == 200
    wait_until(lambda: any("refused" in r.getMessage() for r in logs.records))
    call.profile()
    call.contracts()
    call.click("step:rebound", ids.AGREEMENT, 0, "yes")  # a need is commercial: after the agreement
    call.click("step:rebound", ids.NEED_ADD)
    call.submit({ids.INPUT_NEED: "Ambroise Quillevéré agrandit son atelier"})
    call.rebound()
    call.plan_and_close(date(2026, 12, 8))
    with Session(harness.engine) as session:
        compliance_record(session, case_id, actor="chef@agence.fr", now=datetime.now(UTC), timezone="Europe/Paris")
    export_client(ExportClient("C4242"), UnitOfWork(harness.engine, actor="chef@agence.fr"))
    erase_client(EraseClient("C4242"), harness.uow("chef@agence.fr"))
    harness.drain()

    assert call.case().client.email is None
    assert any(r.name.startswith(OUR_LOGGERS) for r in logs.records)  # the capture does see our loggers
    output = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in logs.records)
    leaked = [value for value in LEAKS if value.lower() in output.lower()]
    assert not leaked, f"personal data in the logs: {leaked}\n{output}"


def test_a_database_write_failing_in_a_listener_logs_what_failed_not_the_values(harness, factory, logs, logged):
    case_id = open_case(harness, factory, **CLIENT)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    email_row = list(call.case().client.profile_fields()).index("email")
    call.click("step:profile", ids.PROFILE_ANSWER, email_row, "modified")
    modal = call.modal()

    with failing_writes(harness.engine, "profile_check"):
        harness.submit(harness.agent_id, modal.id, {ids.INPUT_VALUE: {ids.INPUT_VALUE: "ambroise.q@exemple.fr"}})
        (failure,) = wait_until(lambda: [r for r in logs.records if r.levelno >= logging.ERROR])

    output = logged()
    assert not leaks_in(output), f"personal data in the logs: {leaks_in(output)}\n{output}"
    assert call.case().client.email == CLIENT["email"]  # nothing was written
    # What the operator needs to find the failure: the request, the case, the error's class.
    assert (failure.name, failure.getMessage()) == (
        "bot.middleware", f"view_submission {ids.MODAL_PROFILE_FIELD} (case {case_id}, team T0STANDIN) failed: IntegrityError")


def test_a_slack_call_failing_during_delivery_logs_no_personal_data(harness, factory, logs, logged):
    harness.slack.fail("chat.postMessage", times=2, status=500)
    case_id = open_case(harness, factory, **CLIENT)
    harness.drain()

    assert CallDriver(harness, case_id, harness.agent_id).card() is not None  # posted on the third try
    assert any("retried" in r.getMessage() for r in logs.records if r.name == "bot.outbox_delivery")
    output = logged()
    assert not leaks_in(output), f"personal data in the logs: {leaks_in(output)}\n{output}"


def test_a_failing_reminder_logs_no_personal_data(harness, factory, logs, logged):
    # The morning run opens the client's case: its card, with his name, cannot be queued.
    factory.case(client_file(**CLIENT), [contract(subscribed_on=date(2026, 8, 31), seller=AGENT[1])], opened=False)
    now = datetime.now(UTC)

    with failing_writes(harness.engine, "outbox"):
        report = Ticker(harness.engine, SlackNotifier(harness.settings), harness.settings).tick(now)

    assert report.failed == 1
    with Session(harness.engine) as session:
        retried = select(Reminder).where(Reminder.status != FAILED, Reminder.last_error.is_not(None))
        assert len(session.exec(retried).all()) == 1  # to be tried again later
    output = logged()
    assert "reminder" in output and not leaks_in(output), f"personal data in the logs: {leaks_in(output)}\n{output}"


def test_a_failing_import_row_logs_and_prints_no_personal_data(engine, logged, tmp_path, monkeypatch):
    export = tmp_path / "lagon.csv"
    export.write_bytes(csv_bytes(row("C4242", nom=CLIENT["last_name"], prenom=CLIENT["first_name"],
                                     email=CLIENT["email"], telephone=CLIENT["phone"], adresse=CLIENT["address"])))
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))

    with failing_writes(engine, "client"):
        result = CliRunner().invoke(app, ["import", str(export)])

    assert result.exit_code == 1 and "ligne 2" in result.output
    output = logged() + result.output
    assert not leaks_in(output), f"personal data in the logs: {leaks_in(output)}\n{output}"



def test_a_command_whose_write_fails_says_so_in_one_line_without_the_data(engine, factory, logged, monkeypatch):
    factory.case(client_file(**CLIENT), [contract(subscribed_on=date(2026, 8, 31))], opened=False)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))

    with failing_writes(engine, "m3_case"):
        result = CliRunner().invoke(app, ["open-due", "--today", "2026-12-01"])

    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "rien n'a été enregistré" in result.output
    output = logged() + result.output
    assert not leaks_in(output), f"personal data in the logs: {leaks_in(output)}\n{output}"
