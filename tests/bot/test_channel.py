"""The M+3 channel may be private, as SECURITY.md advises: the manifest asks the scopes a private channel
needs, the start-up check works on one, and a public channel brings a French warning at start-up and on the
lead's Home. The stand-in grants the bot exactly the manifest's scopes."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml

from bot import channel
from bot.app import web_client
from bot.runner import check_slack
from bot.views.home import MAX_HOME_BLOCKS, lead_home
from storage.dashboards import Dashboard, Figures, Period
from tests.bot.harness import CHANNEL, Harness, wait_until
from wording import t

MANIFEST = Path(__file__).parents[2] / "manifest.yml"
PRIVATE = "G0PRIVE"


def manifest_scopes() -> frozenset[str]:
    return frozenset(yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["oauth_config"]["scopes"]["bot"])


@pytest.fixture(autouse=True)
def fresh_privacy_answers():
    channel._checked.clear()  # the Home remembers Slack's answer for a while: each test asks anew
    yield
    channel._checked.clear()


def test_the_manifest_asks_the_scopes_a_private_channel_and_the_look_ups_need():
    assert {"groups:read", "groups:history", "channels:read", "channels:history"} <= manifest_scopes()
    text = MANIFEST.read_text(encoding="utf-8")
    scope_lines = text[text.index("    bot:\n"):text.index("\nsettings:")].splitlines()[1:]
    assert len(scope_lines) == len(manifest_scopes())
    assert all(" # " in line for line in scope_lines), "each scope says why the bot needs it"


def test_a_private_channel_passes_the_start_up_check_with_the_manifest_scopes_and_no_warning(
        harness: Harness, caplog: pytest.LogCaptureFixture):
    harness.slack.add_channel(PRIVATE, "m3-prive", is_private=True)
    harness.slack.scopes = manifest_scopes()
    settings = harness.settings.model_copy(update={"m3_channel": PRIVATE})

    with caplog.at_level(logging.WARNING):
        check_slack(settings, web_client(settings))

    assert "public" not in caplog.text


def test_without_groups_read_a_private_channel_stops_the_start_up_with_the_scope_to_add(
        harness: Harness, capsys: pytest.CaptureFixture[str]):
    harness.slack.add_channel(PRIVATE, "m3-prive", is_private=True)
    harness.slack.scopes = manifest_scopes() - {"groups:read"}
    settings = harness.settings.model_copy(update={"m3_channel": PRIVATE})

    with pytest.raises(SystemExit) as stopped:
        check_slack(settings, web_client(settings))

    assert stopped.value.code == 2
    reason = t("bot.channel.missing_scope", scope="groups:read")
    assert capsys.readouterr().err == t("bot.startup.invalid", name="M3_CHANNEL", reason=reason) + "\n"


def test_a_public_channel_is_a_french_warning_at_start_up_naming_no_person(
        harness: Harness, caplog: pytest.LogCaptureFixture):
    harness.slack.scopes = manifest_scopes()

    with caplog.at_level(logging.WARNING):
        check_slack(harness.settings, web_client(harness.settings))

    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == t("bot.channel.public_warning", channel=CHANNEL)
    assert "@" not in warning.getMessage()


def home_text(harness: Harness, user: str) -> str:
    home = wait_until(lambda: harness.slack.home(user))
    return json.dumps(home.content["blocks"], ensure_ascii=False)


def test_the_lead_home_warns_while_the_channel_is_public(harness: Harness):
    harness.open_home(harness.lead_id)
    harness.open_home(harness.agent_id)

    assert t("bot.channel.public_warning", channel=CHANNEL) in home_text(harness, harness.lead_id)
    assert "public" not in home_text(harness, harness.agent_id)  # the lead decides, the agents are not told


def test_the_lead_home_has_no_warning_on_a_private_channel(harness: Harness):
    harness.slack.channels[CHANNEL].is_private = True

    harness.open_home(harness.lead_id)

    text = home_text(harness, harness.lead_id)
    assert "Dossiers ouverts" in text and "public" not in text


def test_the_lead_home_with_its_warning_stays_within_100_blocks():
    figures = Figures(Counter({("opened",): 3, ("attempted",): 2, ("reached",): 1}))
    dashboard = Dashboard(Period(date(2026, 6, 1), date(2026, 6, 30), "month"), date(2026, 6, 19), figures,
                          {f"agent{i}@agence.fr": figures for i in range(80)}, {"chalandise": figures})
    assert len(lead_home(dashboard, {}, warning=channel.public_warning(CHANNEL))["blocks"]) <= MAX_HOME_BLOCKS
