"""Personal data never reaches the logs: a whole call through Slack, with a refused input, a forged click,
the compliance record and the client's export and erasure, logged at DEBUG for every logger of ours."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlmodel import Session

from bot import privacy
from bot.compliance_pdf import compliance_record
from bot.payloads import encode
from bot.views import ids
from flows.case import ClientType
from storage import rgpd
# The bot's fixtures live in tests/bot/conftest.py; this test sits at the top because it covers every layer.
from tests.bot.conftest import harness, slack  # noqa: F401
from tests.bot.driver import CallDriver
from tests.bot.harness import wait_until
from tests.bot.test_call_scenarios import open_case

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
    rgpd.export_client(harness.engine, "C4242", actor="chef@agence.fr")
    privacy.erase(harness.engine, harness.settings, "C4242", actor="chef@agence.fr")
    harness.drain()

    assert call.case().client.email is None
    assert any(r.name.startswith(OUR_LOGGERS) for r in logs.records)  # the capture does see our loggers
    output = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in logs.records)
    leaked = [value for value in LEAKS if value.lower() in output.lower()]
    assert not leaked, f"personal data in the logs: {leaked}\n{output}"
