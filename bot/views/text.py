"""French formatting shared by the views: texts from the YAML files, dates, people, safe Slack markup.

Everything typed by a person or imported from Lagon goes through `escape` before entering mrkdwn, so a
client named "<!channel>" notifies nobody, and through `clip` before a length-limited field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from flows import texts
from flows.case import Action, ActionStatus, Case
from flows.script import display_name

LOCALE = "fr_FR"
# Times are shown in the agency's time zone, `Rules.agency_timezone`'s default.
AGENCY_TZ = "Europe/Paris"


def t(key: str, **values: object) -> str:
    """A string of the Slack UI (`slack.*` in flows/texts/slack.yml)."""
    return texts.t(f"slack.{key}", **values)


def label(group: str, code: str) -> str:
    """A label of the guide (`labels.<group>.<code>` in flows/texts/labels.yml)."""
    return texts.t(f"labels.{group}.{code}")


def escape(text: str | None) -> str:
    # Slack's three control characters in mrkdwn; everything else is shown as typed.
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def day(value: date, tz: str = AGENCY_TZ) -> str:
    """A date in words ("27 novembre 2026"); a datetime is first read in the agency's time zone."""
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz)).date()
    return format_date(value, format="long", locale=LOCALE)


def moment(value: datetime, tz: str = AGENCY_TZ) -> str:
    return format_datetime(value, "EEEE d MMMM 'à' HH:mm", tzinfo=ZoneInfo(tz), locale=LOCALE)


def person(email: str | None, names: Mapping[str, str]) -> str:
    """An agent as the channel should read him: his display name, else his e-mail's local part."""
    return escape(display_name(email, names)) or t("nobody")


def client_name(case: Case) -> str:
    """The client as typed in Lagon, unescaped: for plain-text headers; `escape` it for mrkdwn."""
    client = case.client
    return " ".join(part for part in (client.civility, client.first_name, client.last_name) if part)


def action_line(action: Action, names: Mapping[str, str]) -> str:
    """One dated line of the action plan: kind, due date, owner, purpose and reason."""
    parts = [
        f"*{t(f'plan.kind.{action.kind.value}')}*",
        t("plan.due", date=day(action.due_on)),
        person(action.owner, names),
    ]
    if action.purpose:
        parts.append(t(f"plan.purpose.{action.purpose}"))
    if action.reason:
        parts.append(f"_{escape(action.reason)}_")
    if action.status is ActionStatus.done:
        parts.append(f"✓ {label('action_status', 'done')}")
    return " — ".join(parts)
