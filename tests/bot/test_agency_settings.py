"""The agency's settings, set in Slack by a workspace admin: stored within their bounds, audited, in force
for the agency's next requests, and refused to anyone else."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from bot.views import ids
from service.agency_settings import AGENCY_SETTINGS_CHANGED
from storage.tables import AuditEntry, Workspace
from tests.bot.harness import CHANNEL, LEAD, Harness, wait_until
from wording import t

OTHER_CHANNEL = "C0M3BIS00"
NEW_LEAD = "U0NEWLEAD1"
BUTTON = "Réglages de l'agence"


def admin_home(harness: Harness, user: str):
    harness.open_home(user)
    return harness.slack.wait_for(lambda: (home := harness.slack.home(user)) and BUTTON in json.dumps(
        home.content, ensure_ascii=False) and home)


def open_settings(harness: Harness, user: str):
    before = len(harness.slack.calls_to("views.open"))
    harness.click(user, admin_home(harness, user), ids.AGENCY_SETTINGS)
    harness.slack.wait_for(lambda: len(harness.slack.calls_to("views.open")) > before)
    modal = harness.slack.open_modal(user)
    assert modal.content["callback_id"] == ids.MODAL_AGENCY_SETTINGS
    return modal


def values(*, channel: str = OTHER_CHANNEL, leads: list[str] | None = None, opens: str = "08:30",
           closes: str = "19:00", caller: str = "seller", years: str = "6") -> dict:
    chosen = {ids.INPUT_CHANNEL: channel, ids.INPUT_LEADS: leads if leads is not None else [LEAD[0], NEW_LEAD],
              ids.INPUT_OPENS: opens, ids.INPUT_CLOSES: closes, ids.INPUT_CALLER: caller, ids.INPUT_RETENTION: years}
    return {block: {block: value} for block, value in chosen.items()}


def make_admin(harness: Harness) -> str:
    harness.slack.users[harness.colleague_id].is_admin = True
    harness.slack.add_channel(OTHER_CHANNEL, "m3-bis", is_private=True)
    return harness.colleague_id


def chosen(harness: Harness) -> dict:
    with Session(harness.engine) as session:
        return session.exec(select(Workspace.settings)).one()


def test_an_admin_sets_the_agencys_settings_and_they_are_in_force_and_in_the_trail(harness: Harness) -> None:
    admin = make_admin(harness)
    modal = open_settings(harness, admin)

    reply = harness.submit(admin, modal.id, values())

    assert reply.status == 200 and not reply.body, reply.body
    assert wait_until(lambda: chosen(harness)) == {
        "m3_channel": OTHER_CHANNEL, "m3_leads": [LEAD[0], NEW_LEAD], "agency_opens": "08:30",
        "agency_closes": "19:00", "m3_caller": "seller", "retention_years": 6}
    with Session(harness.engine) as session:
        (entry,) = session.exec(select(AuditEntry).where(AuditEntry.event == AGENCY_SETTINGS_CHANGED)).all()
    assert entry.data["by"] == admin and entry.data["changed"]["m3_channel"] == {"from": None, "to": OTHER_CHANNEL}
    # The new lead is one at his next request: his Home is a lead's.
    harness.slack.add_user(NEW_LEAD, "nouveau@agence.fr", "nouveau")
    harness.open_home(NEW_LEAD)
    harness.slack.wait_for(lambda: (home := harness.slack.home(NEW_LEAD)) and "Transférer les dossiers" in json.dumps(
        home.content, ensure_ascii=False))


def test_hours_past_the_legal_end_of_calls_are_refused_under_their_field_and_nothing_is_stored(harness: Harness) -> None:
    admin = make_admin(harness)
    modal = open_settings(harness, admin)

    reply = harness.submit(admin, modal.id, values(opens="09:00", closes="21:00"))

    assert ids.INPUT_CLOSES in json.loads(reply.body)["errors"]
    assert chosen(harness) == {}


def test_a_channel_the_bot_cannot_read_is_refused(harness: Harness) -> None:
    admin = make_admin(harness)
    modal = open_settings(harness, admin)

    reply = harness.submit(admin, modal.id, values(channel="C0NOTHERE0"))

    assert ids.INPUT_CHANNEL in json.loads(reply.body)["errors"]
    assert chosen(harness) == {}


def test_only_admins_see_the_settings_and_a_forged_click_opens_nothing(harness: Harness) -> None:
    harness.open_home(harness.agent_id)
    home = harness.slack.wait_for(lambda: harness.slack.home(harness.agent_id))
    assert BUTTON not in json.dumps(home.content, ensure_ascii=False)
    admin = make_admin(harness)
    target = admin_home(harness, admin)
    before = len(harness.slack.calls_to("views.open"))

    harness.click(harness.agent_id, target, ids.AGENCY_SETTINGS)  # the admin's button, clicked by an agent
    (refusal,) = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id))

    assert len(harness.slack.calls_to("views.open")) == before
    assert (refusal.text, refusal.channel) == (t("slack.modals.agency_settings.admins_only"), CHANNEL)
