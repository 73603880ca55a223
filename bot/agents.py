"""Agents (known by e-mail from the import) matched to Slack users, the Slack user id cached on the agent row.

An agent is matched at start-up (`match_agents`), when he first clicks (`AgentDirectory`), and when his first case
is queued (`queue_lookup`): a `users.lookupByEmail` row in the outbox, paced with every other call, whose
delivery calls `looked_up`. An e-mail Slack does not know is marked on the agent, never asked again, and told
once to the leads (the channel when there is none).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.views.text import escape
from storage import outbox
from storage.tables import Agent, utcnow
from storage.workspaces import session_for
from wording import t

log = logging.getLogger(__name__)

LOOKUP = "users.lookupByEmail"
POST = "chat.postMessage"

# A Slack user who matched no agent is asked about again only after this long: a lead who is not an agent
# would otherwise cost a users.info call before every acknowledgement.
RECHECK_SECONDS = 600
# How long a Slack user's agent e-mail is trusted without reading it again: a click then costs no statement
# to learn who acts. The agent row is what changes it (a match, a re-match), rarely.
KNOWN_SECONDS = 300


@dataclass
class MatchReport:
    matched: int = 0
    unknown: list[str] = field(default_factory=list)  # e-mails with no Slack user, for the operator


def match_agents(engine: Engine, workspace: int, client: WebClient) -> MatchReport:
    """Look up by e-mail every agent of `workspace` not matched yet; an e-mail unknown to Slack is reported,
    not fatal."""
    report = MatchReport()
    with session_for(engine, workspace) as session:
        emails = list(session.exec(select(Agent.email).where(Agent.slack_user_id.is_(None))))
    for email in emails:
        try:
            user = client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as error:
            if error.response.get("error") != "users_not_found":
                raise
            report.unknown.append(email)
            continue
        _remember(engine, workspace, email, user)
        report.matched += 1
    log.info("agents matched to Slack users: %d, unknown: %d", report.matched, len(report.unknown))
    return report


class AgentDirectory:
    """Who a Slack user is, as agent: his e-mail, read once and kept `KNOWN_SECONDS` in this process; a user
    seen for the first time is matched through users.info; one who is no agent is asked about again only
    after `RECHECK_SECONDS`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # (workspace, Slack user ID) -> (when read, agent e-mail); Slack's ids are unique within a workspace.
        self._known: dict[tuple[int, str], tuple[float, str]] = {}
        self._not_agents: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def actor(self, client: WebClient, workspace: int, slack_user_id: str) -> str | None:
        """The agent e-mail of a Slack user of `workspace`, None when he is no agent there."""
        now = time.monotonic()
        key = (workspace, slack_user_id)
        with self._lock:
            known = self._known.get(key)
            if known is not None and now - known[0] < KNOWN_SECONDS:
                return known[1]
            checked = self._not_agents.get(key)
        with session_for(self.engine, workspace) as session:
            email = session.exec(select(Agent.email).where(Agent.slack_user_id == slack_user_id)).first()
            unmatched = email is None and session.exec(select(Agent.id).where(Agent.slack_user_id.is_(None))).first()
        asked = email is None and unmatched and (checked is None or now - checked >= RECHECK_SECONDS)
        if asked:
            email = self._match(client, workspace, slack_user_id)
        with self._lock:
            if email is not None:
                self._known[key] = (now, email)
            elif asked:
                self._not_agents[key] = now
        return email

    def _match(self, client: WebClient, workspace: int, slack_user_id: str) -> str | None:
        try:
            user = client.users_info(user=slack_user_id)["user"]
        except SlackApiError:
            return None
        email = (user.get("profile") or {}).get("email")
        return _remember(self.engine, workspace, email, user) if email else None


def _remember(engine: Engine, workspace: int, email: str, user: dict) -> str | None:
    """Cache the Slack id on the agent of `workspace` with this e-mail (case-insensitive); his e-mail, None if
    no such agent."""
    with session_for(engine, workspace) as session, session.begin():
        agent = session.exec(select(Agent).where(func.lower(Agent.email) == email.lower())).first()
        if agent is None:
            return None
        agent.slack_user_id = user["id"]
        agent.display_name = agent.display_name or user.get("real_name") or user.get("name")
        return agent.email


def queue_lookup(session: Session, email: str | None, *, tell: list[str]) -> None:
    """Queue the Slack look-up of the agent `email` unless he is matched or known to be unknown to Slack;
    `tell` (lead user IDs, or the channel) hears of an e-mail Slack does not know. Ahead of bulk work: the
    agent's cards and morning message come after it."""
    if not email:
        return
    agent = session.exec(select(Agent).where(func.lower(Agent.email) == email.lower())).first()
    if agent is None or agent.slack_user_id or agent.slack_unknown_at:
        return
    outbox.enqueue(session, LOOKUP, {"email": agent.email, "tell": tell}, dedupe_key=f"lookup:{agent.email.lower()}",
                   priority=outbox.URGENT)


def looked_up(engine: Engine, workspace: int, payload: dict, user: dict | None) -> None:
    """The answer to a look-up queued in `workspace`: the Slack user (cached on the agent), or None when Slack
    knows no user with this e-mail (marked, and the leads told once, in one transaction)."""
    email = payload["email"]
    if user is not None:
        _remember(engine, workspace, email, user)
        return
    with session_for(engine, workspace) as session, session.begin():
        agent = session.exec(select(Agent).where(func.lower(Agent.email) == email.lower())).first()
        if agent is None or agent.slack_unknown_at is not None:
            return
        agent.slack_unknown_at = utcnow()
        text = t("reminders.unknown_email", email=escape(email))
        for destination in payload.get("tell") or []:
            outbox.enqueue(session, POST, {"channel": destination, "text": text},
                           dedupe_key=f"unknown_email:{email.lower()}:{destination}", priority=outbox.NORMAL)
    log.info("an agent's e-mail is unknown to Slack: the leads are told")
