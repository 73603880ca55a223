"""`m3bot doctor` against the Slack stand-in, and `m3bot backup`, run through typer's CliRunner."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.scopes import BOT_SCOPES
from sandbox.slack_api import SlackStandIn

CP1252 = Path(__file__).parents[1] / "data" / "lagon_cp1252.csv"
MANIFEST = Path(__file__).parents[2] / "manifest.yml"
HOSTED_MANIFEST = MANIFEST.with_name("manifest.hosted.yml")


def manifest(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [MANIFEST, HOSTED_MANIFEST], ids=["one agency", "hosted"])
def test_the_manifest_asks_for_exactly_the_scopes_the_bot_checks(path: Path):
    assert sorted(manifest(path)["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)


def test_the_hosted_manifest_is_the_same_app_served_over_http_with_a_redirect_url():
    """Same name, features, scopes and events as manifest.yml; Slack calls URLs to fill in, no Socket Mode."""
    one, hosted = manifest(MANIFEST), manifest(HOSTED_MANIFEST)
    assert hosted["display_information"] == one["display_information"]
    assert {**hosted["features"], "slash_commands": None} == {**one["features"], "slash_commands": None}
    assert [{k: v for k, v in c.items() if k != "url"} for c in hosted["features"]["slash_commands"]] == \
        one["features"]["slash_commands"]
    assert hosted["settings"]["event_subscriptions"]["bot_events"] == one["settings"]["event_subscriptions"]["bot_events"]
    assert hosted["settings"]["socket_mode_enabled"] is False and one["settings"]["socket_mode_enabled"] is True
    urls = [hosted["settings"]["interactivity"]["request_url"], hosted["settings"]["event_subscriptions"]["request_url"],
            *(c["url"] for c in hosted["features"]["slash_commands"])]
    assert all(url.startswith("https://") and url.endswith("/slack/events") for url in urls)
    (redirect,) = hosted["oauth_config"]["redirect_urls"]
    assert redirect.startswith("https://") and redirect.endswith("/slack/oauth_redirect")


@pytest.fixture
def slack():
    with SlackStandIn(scopes=frozenset(BOT_SCOPES)) as standin:
        standin.add_channel("C0M3", "m3-suivi")
        yield standin


@pytest.fixture
def doctor(engine, slack, monkeypatch):
    environment = {
        "DATABASE_URL": engine.url.render_as_string(hide_password=False), "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": slack.signing_secret, "SLACK_API_URL": slack.api_url, "M3_CHANNEL": "C0M3",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return lambda: CliRunner().invoke(app, ["doctor"])


def test_doctor_names_what_is_wrong_and_how_to_fix_it(doctor, slack):
    slack.scopes = frozenset(BOT_SCOPES) - {"users:read.email"}
    slack.channels["C0M3"].is_member = False

    result = doctor()

    assert result.exit_code == 1
    assert "Droits manquants sur le jeton : users:read.email" in result.output
    assert "Le canal est public" in result.output and "/invite @M+3" in result.output
    assert "[OK] Base de données joignable" in result.output
    assert "3 point(s) à corriger." in result.output


def test_doctor_reports_an_unknown_channel_and_a_refused_token(doctor, slack, monkeypatch):
    monkeypatch.setenv("M3_CHANNEL", "C0NOPE")
    assert "Canal M3_CHANNEL C0NOPE introuvable (channel_not_found)" in doctor().output
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
    result = doctor()
    assert result.exit_code == 1 and "Slack refuse le jeton du bot (invalid_auth)" in result.output
    assert "Canal" not in result.output  # nothing more can be checked without a token


def test_doctor_says_when_a_setting_is_missing(doctor, monkeypatch):
    monkeypatch.delenv("M3_CHANNEL")
    result = doctor()
    assert result.exit_code == 1 and "Paramètres manquants : M3_CHANNEL." in result.output


@pytest.fixture
def m3bot(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_backup_of_a_postgresql_database_points_to_pg_dump(m3bot, engine, tmp_path):
    if engine.url.get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only")
    result = m3bot("backup", tmp_path / "copy.db")
    assert result.exit_code == 2 and "pg_dump" in result.output and not (tmp_path / "copy.db").exists()


def test_backup_copies_a_sqlite_database_readable_by_its_owner_only(m3bot, engine, tmp_path):
    if engine.url.get_backend_name() != "sqlite":
        pytest.skip("SQLite only")
    m3bot("import", CP1252)
    target = tmp_path / "copy.db"

    result = m3bot("backup", target)

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with sqlite3.connect(target) as copy:
        assert copy.execute("select count(*) from m3_case").fetchone()[0] == 3
    again = m3bot("backup", target)
    assert again.exit_code == 2 and "existe déjà" in again.output
