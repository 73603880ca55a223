"""Compares what the bot committed with what Slack shows: the audit trail and the outbox on one side, the
stand-in's messages on the other. Used after faults and under load.

A case's expected messages are its card and one thread message per step its audit trail went through; each
must be in Slack exactly once (found by the `ts` the bot recorded), showing the content of the last upsert
queued for it (compared by digest: a delivered row keeps no content). Any other message the bot posted in the
channel is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.rendering import _STEP_ROLE
from flows.case import State
from sandbox.slack_api import Message, SlackError, SlackStandIn
from storage import outbox, slack_messages
from storage.repository import load_case
from storage.slack_messages import SlackMessage
from storage.tables import AuditEntry, M3Case, Outbox
from tests.flows.test_engine_properties import assert_guard_rails


@dataclass
class Ledger:
    expected: int = 0
    delivered: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def __iadd__(self, other: Ledger) -> Ledger:
        self.expected += other.expected
        self.delivered += other.delivered
        self.duplicated += other.duplicated
        self.problems += other.problems
        return self


def expected_roles(session: Session, case_id: int) -> set[str]:
    """The card and the step messages of every state the audit trail says the case went through."""
    states = {State.preparation.value}
    for data in session.exec(select(AuditEntry.data).where(AuditEntry.case_id == case_id,
                                                           AuditEntry.event == "state_changed")):
        states |= {data["from"], data["to"]}
    return {slack_messages.CARD} | {_STEP_ROLE[State(value)] for value in states}


def reconcile(engine: Engine, slack: SlackStandIn, channel: str) -> Ledger:
    """Check every case of the database against Slack; call it once the outbox has drained."""
    ledger = Ledger()
    with Session(engine) as session:
        rows = list(session.exec(select(Outbox).order_by(Outbox.id)))
        ledger.problems += [f"outbox {r.id} ({r.method}, case {r.case_id}) {r.status}: {r.last_error}"
                            for r in rows if r.status != outbox.DELIVERED]
        last_digest = {(r.case_id, r.role): r.digest for r in rows if r.method == slack_messages.UPSERT}
        posted = {(m.case_id, m.role): m for m in session.exec(select(SlackMessage))}
        case_ids = list(session.exec(select(M3Case.id).where(M3Case.opened_at.is_not(None))))
        for case_id in case_ids:
            try:
                assert_guard_rails(load_case(session, case_id, lock=False))
            except AssertionError:
                ledger.problems.append(f"case {case_id} breaks the guide's guard rails")
            for role in expected_roles(session, case_id):
                ledger.expected += 1
                where = posted.get((case_id, role))
                shown = _shown(slack, where)
                digest = last_digest.get((case_id, role))
                if shown is None or digest is None:
                    ledger.problems.append(f"case {case_id}: {role} not in Slack")
                elif outbox.content_digest({"text": shown.text, "blocks": shown.blocks}) != digest:
                    ledger.problems.append(f"case {case_id}: {role} shows an older content")
                else:
                    ledger.delivered += 1
    known = {(m.channel, m.ts) for m in posted.values()}
    strays = [m for m in slack.messages[channel] if m.user == slack.bot_user_id and (m.channel, m.ts) not in known]
    ledger.duplicated = len(strays)
    ledger.problems += [f"message posted twice or unknown: {m.text[:60]!r}" for m in strays]
    return ledger


def _shown(slack: SlackStandIn, where: SlackMessage | None) -> Message | None:
    if where is None:
        return None
    try:
        return slack.message(where.channel, where.ts)
    except SlackError:
        return None
