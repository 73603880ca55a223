"""The Slack side of the client's erasure: what channel members see is anonymised too.

`storage.rgpd` anonymises the database and calls back, in the same transaction, for each of the client's
cases; this module then queues an edit of every message the bot posted for the case: the card and each
step are rendered again from the anonymised case, a reminder in the thread is replaced by a neutral line,
and a reminder sent to an agent by direct message is deleted. Everything goes through the outbox, so the
edits are delivered (and retried) like any other message once the erasure committed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.progress import Advance
from bot.rendering import _STEP_ROLE, agency_today, agent_names
from bot.views.blocks import message, section
from bot.views.card import status_card
from bot.views.steps import step_message
from config.settings import Settings
from flows.texts import t
from storage import outbox, rgpd
from storage.outbox import DELIVERED
from storage.repository import load_case
from storage.slack_messages import CARD, UPSERT, SlackMessage
from storage.tables import Outbox

POST, DELETE = "chat.postMessage", "chat.delete"
# Each thread role shows one state's step: the first state of the guide that renders it.
_ROLE_STATE = {role: state for state, role in reversed(_STEP_ROLE.items())}


def queue_anonymised_messages(session: Session, case_id: int, settings: Settings) -> None:
    """Queue the anonymised version of every Slack message of case `case_id` (an `on_erased` hook)."""
    case = load_case(session, case_id, lock=False)
    names = agent_names(session)
    roles = set(session.exec(select(SlackMessage.role).where(SlackMessage.case_id == case_id)))
    # Messages queued but not posted yet are posted anonymised, not left with the erased content.
    roles |= set(session.exec(
        select(Outbox.role).where(Outbox.case_id == case_id, Outbox.method == UPSERT, Outbox.status == outbox.PENDING)
    ))
    for role in sorted(roles):
        if role == CARD:
            shown = status_card(case, names)
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


def _hook(settings: Settings) -> rgpd.OnErased:
    return lambda session, case_id: queue_anonymised_messages(session, case_id, settings)


def erase(engine: Engine, settings: Settings, number: str, *, actor: str, now: datetime | None = None) -> rgpd.Erasure:
    """Erase the client `number` in the database and in Slack (see `storage.rgpd.erase_client`)."""
    return rgpd.erase_client(engine, number, actor=actor, now=now, on_erased=_hook(settings))


def purge(
    engine: Engine, settings: Settings, *, actor: str, now: datetime | None = None, dry_run: bool = False,
    progress: Advance | None = None,
) -> list[rgpd.Erasure]:
    """Apply the retention period (`Settings.retention_years`), Slack messages included."""
    return rgpd.purge(engine, retention_years=settings.retention_years, actor=actor, now=now, dry_run=dry_run,
                      on_erased=_hook(settings), progress=progress)
