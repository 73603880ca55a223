"""French formatting shared by the views: texts from the YAML files, dates, people, safe Slack markup.

Everything typed by a person or imported from Lagon goes through `escape` before entering mrkdwn (the
message's `text` included), so a client named "<!channel>" notifies nobody and "*Bob*" is not bold; in
plain_text fields (headers, buttons, options, modal titles) it goes unescaped, Slack shows it as typed.
Every length-limited field goes through `clip`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_timezone_location

import wording
from flows.calling_hours import client_timezone
from flows.case import Action, ActionStatus, Case
from flows.script import display_name

LOCALE = "fr_FR"
# Times are shown in the agency's time zone, `Rules.agency_timezone`'s default.
AGENCY_TZ = "Europe/Paris"


def t(key: str, **values: object) -> str:
    """A string of the Slack UI (`slack.*` in wording/fr/slack.yml)."""
    return wording.t(f"slack.{key}", **values)


def label(group: str, code: str) -> str:
    """A label of the guide (`labels.<group>.<code>` in flows/texts/labels.yml, the domain's vocabulary)."""
    return wording.t(f"labels.{group}.{code}")


ZERO_WIDTH_SPACE = "\u200b"
# Slack's control characters in mrkdwn become the entities its documentation gives; its formatting marks
# have no escape, so a zero-width space after each keeps it from pairing with another into bold, italics,
# strike-through or code, and the text reads the same. One table: every character is replaced at once.
_LITERAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"}
                         | {mark: mark + ZERO_WIDTH_SPACE for mark in "*_~`"})


def escape(text: str | None) -> str:
    """`text` (a name, a note, a value from the import) as literal mrkdwn: no mention, link or formatting."""
    return (text or "").translate(_LITERAL)


# What a cut may leave of an escape: part of an entity, or a mark whose zero-width space fell off.
_HALF_ESCAPE = re.compile(r"(&[a-z]{0,3}|[*_~`])$")


def clip(text: str, limit: int) -> str:
    """`text` within `limit` characters, "…" ending a cut one; a cut never leaves half an `escape`."""
    if len(text) <= limit:
        return text
    return _HALF_ESCAPE.sub("", text[: limit - 1]) + "…"


def day(value: date, tz: str = AGENCY_TZ) -> str:
    """A date in words ("27 novembre 2026"); a datetime is first read in the agency's time zone."""
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz)).date()
    return format_date(value, format="long", locale=LOCALE)


def moment(value: datetime, tz: str = AGENCY_TZ) -> str:
    return format_datetime(value, "EEEE d MMMM 'à' HH:mm", tzinfo=ZoneInfo(tz), locale=LOCALE)


def client_clock(at: datetime, postcode: str | None, tz: str = AGENCY_TZ) -> tuple[str, str] | None:
    """(time, place) of `at` on the client's clock ("17:30", "La Réunion") when his postcode's time zone
    reads it otherwise than the agency's; None when both clocks agree."""
    zone = client_timezone(postcode)
    client = at.astimezone(zone).strftime("%H:%M")
    if client == at.astimezone(ZoneInfo(tz)).strftime("%H:%M"):
        return None
    return client, get_timezone_location(zone, locale=LOCALE, return_city=True)


def person(email: str | None, names: Mapping[str, str]) -> str:
    """An agent as the channel should read him: his display name, else his e-mail's local part."""
    return escape(display_name(email, names)) or t("nobody")


def mention(slack_user_id: str | None, email: str | None, names: Mapping[str, str]) -> str:
    """`<@U…>` shows the agent as Slack does (and notifies him in a new message); an agent unknown to Slack
    is named instead."""
    return f"<@{slack_user_id}>" if slack_user_id else person(email, names)


def client_name(case: Case) -> str:
    """The client as typed in Lagon, unescaped: for plain-text headers; `escape` it for mrkdwn."""
    client = case.client
    return " ".join(part for part in (client.civility, client.first_name, client.last_name) if part)


def action_line(action: Action, names: Mapping[str, str]) -> str:
    """One dated line of the action plan: kind, due date, owner, purpose and reason."""
    parts = [
        f"*{label('plan_kind', action.kind.value)}*",
        t("plan.due", date=day(action.due_on)),
        person(action.owner, names),
    ]
    if action.purpose:
        parts.append(label("plan_purpose", action.purpose))
    if action.reason:
        parts.append(f"_{escape(action.reason)}_")
    if action.status is ActionStatus.done:
        parts.append(f"✓ {label('action_status', 'done')}")
    return " — ".join(parts)
