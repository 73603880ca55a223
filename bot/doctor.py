"""`m3bot doctor`: every check an agency's IT would make before calling for help, each with its fix.

Checks run in order and later ones are skipped when an earlier one they need failed (no token, no Slack
check). Nothing here changes anything. Texts are French (`doctor.*` in wording/fr/cli.yml) and name
settings, scopes and channel ids only, never a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.error import URLError

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.app import delivery_client
from bot.channel import ChannelUnusable, channel_info
from bot.installations import installations
from bot.runner import missing_settings
from bot.scopes import BOT_SCOPES
from config.agency import effective
from config.settings import Settings
from service.agency_settings import chosen_settings
from service.workspaces import list_workspaces
from storage.db import DatabaseUrlError, make_engine, schema_is_current
from wording import t


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str  # what was checked and found
    fix: str | None = None  # how to mend it, when not ok


def run_checks(settings: Settings, client: WebClient) -> list[Check]:
    checks = [_settings(settings), _database(settings)]
    if settings.hosted and checks[-1].ok:
        return checks + _agencies(settings)
    if not settings.slack_bot_token:
        return checks
    return checks + _workspace(client, settings.m3_channel)


def _workspace(client: WebClient, channel: str | None) -> list[Check]:
    """One workspace's token, its scopes and its M+3 channel."""
    slack = _slack(client)
    if slack[1] is None:
        return [slack[0]]
    return [slack[0], _scopes(slack[1]), *(_channel(client, channel) if channel else [])]


def _agencies(settings: Settings) -> list[Check]:
    """Hosted mode: each agency's installation, then its token, scopes and channel (its admin's choice)."""
    engine = make_engine(settings.database_url)
    try:
        store = installations(settings, engine)
        checks = []
        for agency in list_workspaces(engine):
            label = t("doctor.hosted.agency", team=agency.team_id or "—", name=agency.name or "—")
            if agency.stopped_at is not None:
                checks.append(Check(True, f"{label} {t('doctor.hosted.stopped')}"))
                continue
            bot = store.find_bot(enterprise_id=None, team_id=agency.team_id)
            if bot is None:
                checks.append(Check(False, f"{label} {t('doctor.hosted.not_installed')}", t("doctor.hosted.install_fix")))
                continue
            channel = effective(settings, chosen_settings(engine, agency.workspace_id)).m3_channel
            found = _workspace(delivery_client(settings, token=bot.bot_token), channel)
            if not channel:
                found.append(Check(False, t("doctor.hosted.no_channel"), t("doctor.hosted.no_channel_fix")))
            checks += [Check(check.ok, f"{label} {check.line}", check.fix) for check in found]
        return checks or [Check(False, t("doctor.hosted.none"), t("doctor.hosted.none_fix"))]
    finally:
        engine.dispose()


def _settings(settings: Settings) -> Check:
    if missing := missing_settings(settings):
        return Check(False, t("doctor.settings.missing", names=", ".join(missing)), t("doctor.settings.fix"))
    return Check(True, t("doctor.settings.ok"))


def _database(settings: Settings) -> Check:
    try:
        engine = make_engine(settings.database_url)
    except DatabaseUrlError as error:
        return Check(False, t("doctor.database.url", reason=error), t("doctor.database.url_fix"))
    try:
        if not schema_is_current(engine):
            return Check(False, t("doctor.database.schema"), t("doctor.database.schema_fix"))
    except sa.exc.DBAPIError as error:
        return Check(False, t("doctor.database.unreachable", reason=type(error.orig).__name__),
                     t("doctor.database.unreachable_fix"))
    finally:
        engine.dispose()
    return Check(True, t("doctor.database.ok", backend=engine.url.get_backend_name()))


def _slack(client: WebClient) -> tuple[Check, set[str] | None]:
    """The token's check, and the scopes Slack says it grants (`X-OAuth-Scopes` of every answer)."""
    try:
        answer = client.auth_test()
    except SlackApiError as error:
        return Check(False, t("doctor.slack.refused", error=error.response.get("error")), t("doctor.slack.refused_fix")), None
    except (URLError, OSError):
        return Check(False, t("doctor.slack.unreachable"), t("doctor.slack.unreachable_fix")), None
    header = {name.lower(): value for name, value in answer.headers.items()}.get("x-oauth-scopes", "")
    return Check(True, t("doctor.slack.ok", team=answer.get("team_id"))), {s.strip() for s in header.split(",") if s.strip()}


def _scopes(granted: set[str]) -> Check:
    if missing := [scope for scope in BOT_SCOPES if scope not in granted]:
        return Check(False, t("doctor.scopes.missing", scopes=", ".join(missing)), t("doctor.scopes.fix"))
    return Check(True, t("doctor.scopes.ok", count=len(BOT_SCOPES)))


def _channel(client: WebClient, channel_id: str) -> list[Check]:
    try:
        channel = channel_info(client, channel_id)
    except ChannelUnusable as error:
        return [Check(False, t("doctor.channel.unknown", channel=channel_id, error=error.reason),
                      t("doctor.channel.unknown_fix"))]
    checks = [Check(True, t("doctor.channel.found", channel=channel_id))]
    if channel.get("is_private"):
        checks.append(Check(True, t("doctor.channel.private")))
    else:
        checks.append(Check(False, t("doctor.channel.public"), t("doctor.channel.public_fix")))
    if not channel.get("is_member"):
        checks.append(Check(False, t("doctor.channel.not_member"), t("doctor.channel.not_member_fix")))
    return checks
