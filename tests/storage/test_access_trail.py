"""Every change of the settings, the leads' list included, is recorded in the audit trail at start-up:
what changed, from what to what, who started the process and when; secrets are never recorded."""

from __future__ import annotations

from pydantic import SecretStr
from sqlmodel import Session, select

from bot.settings_record import record_at_start, recordable
from config.settings import Settings
from storage import access_trail
from storage.tables import AuditEntry


def settings(**values) -> Settings:
    base = {"database_url": "postgresql://m3:motdepasse@db/m3", "slack_bot_token": "xoxb-secret-token",
            "slack_signing_secret": "signing-secret", "m3_channel": "C0M3", "m3_leads": ["U0LEAD"]}
    return Settings(_env_file=None, **(base | values))


def trail(engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.event == access_trail.SETTINGS_CHANGED)
                                 .order_by(AuditEntry.id)))


def test_the_first_start_records_every_setting_but_the_secrets(engine):
    record_at_start(engine, settings(), process="run")

    (entry,) = trail(engine)
    recorded = entry.data["settings"]
    assert recorded["m3_leads"] == ["U0LEAD"] and recorded["max_attempts"] == 4
    text = repr(entry.data)
    assert "xoxb-secret-token" not in text and "signing-secret" not in text and "motdepasse" not in text
    assert "(m3bot run)" in entry.actor


def test_a_start_with_the_same_settings_records_nothing(engine):
    record_at_start(engine, settings(), process="run")
    assert record_at_start(engine, settings(), process="scheduler") is None
    assert len(trail(engine)) == 1


def test_a_new_lead_and_a_changed_rule_are_recorded_from_what_to_what(engine):
    record_at_start(engine, settings(), process="run")

    changed = record_at_start(engine, settings(m3_leads=["U0LEAD", "U0NEW"], max_attempts=3), process="run")

    assert changed == {"m3_leads": {"from": ["U0LEAD"], "to": ["U0LEAD", "U0NEW"]},
                       "max_attempts": {"from": 4, "to": 3}}
    assert trail(engine)[-1].data["changed"] == changed


def test_a_new_token_is_not_a_recorded_change():
    assert recordable(settings(slack_bot_token="xoxb-other")) == recordable(settings())


def test_secret_settings_are_left_out_whatever_their_type():
    class WithSecret(Settings):
        api_key: SecretStr | None = None

    assert "api_key" not in recordable(WithSecret(_env_file=None, api_key=SecretStr("k")))
