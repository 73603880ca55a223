"""The Slack side of the client's erasure: what channel members see is anonymised too.

`service.rgpd` anonymises the database and tells the notifier, in the same transaction, of each of the
client's cases; the bot's notifier then queues (here) an edit of every message the bot posted for the case: the card and each
step are rendered again from the anonymised case, a reminder in the thread is replaced by a neutral line,
and a reminder sent to an agent by direct message is deleted. Everything goes through the outbox, so the
edits are delivered (and retried) like any other message once the erasure committed.
"""

from __future__ import annotations

from sqlmodel import Session, select

from bot.rendering import _STEP_ROLE, agency_today, agent_names
from bot.views.blocks import message, section
from bot.views.card import status_card
from bot.views.steps import step_message
from config.settings import Settings
from storage import outbox
from storage.outbox import DELIVERED
from storage.repository import load_case
from storage.slack_messages import CARD, UPSERT, SlackMessage
from storage.tables import Outbox
from wording import t

POST, DELETE = "chat.postMessage", "chat.delete"
# Each thread role shows one state's step: the first state of the guide that renders it.
_ROLE_STATE = {role: state for state, role in reversed(_STEP_ROLE.items())}


def queue_anonymised_messages(session: Session, case_id: int, settings: Settings) -> None:
    """Queue the anonymised version of every Slack message of case `case_id` (`SlackNotifier.case_erased`)."""
    case = load_case(session, case_id, lock=False)
    names = agent_names(session)
    roles = set(session.exec(select(SlackMessage.role).where(SlackMessage.case_id == case_id)))
    # Messages queued but not posted yet are posted anonymised, not left with the erased content.
    roles |= set(session.exec(
        select(Outbox.role).where(Outbox.case_id == case_id, Outbox.method == UPSERT, Outbox.status == outbox.PENDING)
    ))
    for role in sorted(roles):
        if role == CARD:
            shown = status_card(case, names, rules=settings.rules())
        elif role in _ROLE_STATE:
            state = case.state if _STEP_ROLE.get(case.state) == role else _ROLE_STATE[role]
            shown = step_message(case, names, agency_today(settings), state=state)
        else:
            notice = t("rgpd.slack_erased")
            shown = message(notice, [section(notice)])
        payload = {"case_id": case_id, "role": role, "channel": settings.m3_channel, "text": shown.text,
                   "blocks": shown.blocks}
        outbox.enqueue(session, UPSERT, payload, case_id=case_id, priority=outbox.BULK)
    direct = session.exec(
        select(Outbox.result).where(Outbox.case_id == case_id, Outbox.method == POST, Outbox.status == DELIVERED)
    )
    for result in direct:
        if result and result.get("ts"):
            outbox.enqueue(session, DELETE, {"channel": result["channel"], "ts": result["ts"]}, case_id=case_id,
                           priority=outbox.BULK)
