"""The product's settings, read from the environment or a `.env` file (pydantic-settings).

One object for the bot, the scheduler and the command line; `rules()` turns the call limits into the
pure `flows.rules.Rules` the engine reads. Tokens are `SecretStr` and the database URL (which may hold a
password) is left out of the repr, so printing or logging the settings never shows a credential.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from flows.opening import CallerRule
from flows.rules import Rules


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///m3bot.db", repr=False)

    # Slack (read a token with `reveal`, where a client needs it)
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None  # set: Socket Mode; unset: HTTP mode on `port`
    slack_api_url: str = "https://slack.com/api/"
    # Hosted mode (one service, many agencies, each installing the app from a link): the app's OAuth
    # credentials, with no SLACK_BOT_TOKEN; each workspace's bot token is then the one its install stored.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_redirect_uri: str | None = None  # https://…/slack/oauth_redirect, as registered in manifest.hosted.yml
    m3_channel: str | None = None  # channel ID where the case threads go
    m3_leads: Annotated[list[str], NoDecode] = Field(default_factory=list)  # Slack user IDs, comma-separated
    host: str = "127.0.0.1"  # HTTP mode listens here only; "0.0.0.0" opens it (put TLS in front, see README)
    port: int = 3000

    # Operations
    metrics_port: int | None = None  # set: Prometheus `/metrics` on this port (never the Slack one)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 where the scraper runs on another host or container
    log_format: Literal["text", "json"] = "text"

    # Cases
    case_window_days: int = 30  # contracts of one client subscribed within this window share a case
    m3_offset_months: int = 3
    m3_caller: CallerRule = "account_manager"  # who calls: the client's account manager, or the seller
    catch_up_days: int = 30  # a case this late when it came in is listed as out of time, not opened
    import_mapping: Path | None = None  # YAML file mapping our column names to the agency's export
    texts_dir: Path | None = None  # an agency's folder of YAML text overrides

    # Call rules (French law and the guide)
    max_attempts: int = 4
    attempts_window_days: int = 30
    refusal_quiet_days: int = 60
    express_request_minutes: int = Field(default=15, ge=1)  # the window of a callback the client asked for
    max_priorities: int = 3
    unreachable_after: int = 3
    pro_account_manager: str | None = None  # e-mail of the agency's professional account manager

    # RGPD: a client's data is erased this many years after his last case closed, his last contract ended
    # and his last call (contract's life, then the 5-year civil prescription, art. 2224 Code civil).
    retention_years: int = Field(default=5, ge=1)
    # An agency that uninstalled the app keeps its data this long (to install it again, or to ask for it),
    # then it is erased: the processor's duty at the end of the service.
    stopped_workspace_keep_days: int = Field(default=90, ge=0)

    # Reminders
    callback_notice_minutes: int = 5  # the agent is reminded this long before a booked callback
    scheduler_tick_seconds: int = 30

    # Agency hours, for reminders other than booked callbacks
    agency_timezone: str = "Europe/Paris"
    agency_opens: str = "09:00"
    agency_closes: str = "18:00"

    @field_validator("m3_leads", mode="before")
    @classmethod
    def _split_leads(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def hosted(self) -> bool:
        """One service for many workspaces: OAuth credentials and no bot token (a bot token wins: one agency)."""
        return bool(self.slack_client_id and self.slack_client_secret and not self.slack_bot_token)

    def rules(self) -> Rules:
        return Rules(
            max_attempts=self.max_attempts,
            attempts_window_days=self.attempts_window_days,
            refusal_quiet_days=self.refusal_quiet_days,
            express_request_minutes=self.express_request_minutes,
            max_priorities=self.max_priorities,
            unreachable_after=self.unreachable_after,
            pro_account_manager=self.pro_account_manager,
            retention_years=self.retention_years,
            agency_timezone=self.agency_timezone,
        )


def reveal(secret: SecretStr | None) -> str | None:
    """The clear value of a secret setting, for the Slack client that sends it."""
    return secret.get_secret_value() if secret is not None else None
