"""The use cases on open cases, called as any entry point calls them (a command and a unit of work), on both
databases, with no Slack and no HTTP: the notifier records what would be shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from config.settings import Settings
from flows.case import State
from flows.commands import Reassign, StartCall
from flows.engine import Refused
from service.cases import Actor, ApplyToCase, HandOver, apply_to_case, hand_over_cases
from service.unit_of_work import Backend, UnitOfWork
from storage import tables
from tests.conftest import NOW, client_file, contract
from tests.scheduler.recording import RecordingNotifier

AGENT, COLLEAGUE, LEAD = "vendeur@agence.fr", "collegue@agence.fr", "chef@agence.fr"
SETTINGS = Settings(_env_file=None)
RULES = SETTINGS.rules()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


def uow(engine, notifier, actor: str = AGENT, now=NOW) -> UnitOfWork:
    return UnitOfWork(Backend(engine, notifier, SETTINGS), actor=actor, now=now)


def written(engine) -> dict[str, int]:
    with Session(engine) as session:
        return {model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (tables.AuditEntry, tables.Outbox, tables.ProcessedRequest, tables.Reminder)}


THE_AGENT = Actor(AGENT, AGENT)


def apply(engine, notifier, case_id: int, command, *, actor: Actor = THE_AGENT, key: str | None = None,
          respond=None):
    return apply_to_case(ApplyToCase(case_id, actor, lambda _case: command, RULES, request_key=key, respond=respond),
                         uow(engine, notifier, actor.label))


def test_a_command_is_saved_recorded_and_shown_in_one_transaction(engine, factory, notifier) -> None:
    case_id = factory.case()
    respond = {"url": "https://hooks.slack.com/actions/x", "ts": "1.2", "at": NOW.isoformat()}

    assert apply(engine, notifier, case_id, StartCall(AGENT), key="k1", respond=respond) is None

    with Session(engine) as session:
        assert session.get(tables.M3Case, case_id).state == State.contact_attempt.value
        events = session.exec(select(tables.AuditEntry.event).where(tables.AuditEntry.case_id == case_id)).all()
    assert "state_changed" in events
    assert [(c.event, c.case_id, c.detail) for c in notifier.calls] == [
        ("case_changed", case_id, (State.preparation.value, State.contact_attempt.value))]


def test_a_refused_command_writes_nothing_and_can_be_tried_again(engine, factory, notifier) -> None:
    case_id = factory.case()
    before = written(engine)
    stranger = Actor("slack:U999", None)

    refusal = apply(engine, notifier, case_id, StartCall(AGENT), actor=stranger, key="k1")

    assert isinstance(refusal, Refused)
    assert written(engine) == before and notifier.calls == []
    assert apply(engine, notifier, case_id, StartCall(AGENT), key="k1") is None  # the key was not spent


def test_field_errors_come_back_and_write_nothing(engine, factory, notifier) -> None:
    case_id = factory.case()
    before = written(engine)

    errors = apply_to_case(ApplyToCase(case_id, Actor(AGENT, AGENT), lambda _case: {"field": "Obligatoire."}, RULES),
                           uow(engine, notifier))

    assert errors == {"field": "Obligatoire."}
    assert written(engine) == before and notifier.calls == []


def test_a_repeated_request_is_handled_once(engine, factory, notifier) -> None:
    case_id = factory.case()

    for _ in range(2):
        assert apply(engine, notifier, case_id, StartCall(AGENT), key="same-click") is None

    assert [c.event for c in notifier.calls] == ["case_changed"]


def test_a_lead_reassigning_a_case_tells_the_new_agent_after_the_cases_messages(engine, factory, notifier) -> None:
    case_id = factory.case()

    assert apply(engine, notifier, case_id, Reassign(COLLEAGUE, "congés"), actor=Actor(LEAD, LEAD, is_lead=True)) is None

    assert [(c.event, c.detail) for c in notifier.calls][-1] == ("case_reassigned", (COLLEAGUE, None))
    assert notifier.calls[0].event == "case_changed"


def handover(engine, notifier, *, colleagues=(COLLEAGUE,), reason: str = "congés") -> dict[int, str]:
    command = HandOver(AGENT, list(colleagues), reason, Actor(LEAD, LEAD, is_lead=True), RULES, lead_user="ULEAD")
    return hand_over_cases(command, uow(engine, notifier, LEAD, now=NOW + timedelta(minutes=1)))


def test_a_hand_over_moves_every_open_case_of_the_absent_agent_or_none(engine, factory, notifier) -> None:
    first = factory.case()
    second = factory.case(client_file(number="C2"), [contract(number="HAB-2")])

    with pytest.raises(Refused):
        handover(engine, notifier, colleagues=(AGENT,))  # to the absent agent himself: refused
    with Session(engine) as session:
        assert {session.get(tables.M3Case, c).agent for c in (first, second)} == {AGENT}
    assert notifier.calls == []

    assert handover(engine, notifier) == {first: COLLEAGUE, second: COLLEAGUE}

    assert [(c.event, c.case_id) for c in notifier.calls if c.event != "handed_over"] == [
        ("case_changed", first), ("case_reassigned", first), ("case_changed", second), ("case_reassigned", second)]
    assert notifier.calls[-1].detail == ("ULEAD", AGENT, {first: COLLEAGUE, second: COLLEAGUE})
