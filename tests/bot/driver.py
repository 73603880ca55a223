"""Drives a case through Slack as an agent would: reads the step messages the bot posted in the stand-in,
clicks their buttons and fills their modals, over signed HTTP requests to the real Bolt app."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, select

from bot.views import ids
from bot.views.ids import suffixed
from flows.engine import confirmable, structuring_protections
from sandbox.slack_api import BotReply, Message, View
from storage import slack_messages
from storage.repository import load_case
from storage.tables import Outbox, ProcessedRequest
from tests.bot.harness import Harness, wait_until


class CallDriver:
    def __init__(self, harness: Harness, case_id: int, user: str) -> None:
        self.h, self.case_id, self.user = harness, case_id, user
        self.clicks = 0

    # ---- what the agent sees ------------------------------------------------------------------------

    def message(self, role: str) -> Message:
        self.h.drain()
        posted = slack_messages.find(self.h.engine, self.case_id, role)
        assert posted is not None, f"no {role} message posted"
        return self.h.slack.message(posted.channel, posted.ts)

    def card(self) -> Message:
        return self.message(slack_messages.CARD)

    def thread(self) -> list[Message]:
        card = self.card()
        return self.h.slack.thread(card.channel, card.ts)

    def case(self):
        with Session(self.h.engine) as session:
            return load_case(session, self.case_id, lock=False)

    def ephemerals(self) -> list[str]:
        self.h.drain()
        return [e.text for e in self.h.slack.ephemerals_for(self.user)]

    # ---- what the agent does ------------------------------------------------------------------------

    def click(self, role: str, action_id: str, *suffix: object, value: str | None = None) -> BotReply:
        action_id = suffixed(action_id, *suffix) if suffix else action_id
        payload = self.h.slack.block_actions(self.user, self.message(role), action_id, value)
        return self.send(payload)

    def send(self, payload: dict[str, Any]) -> BotReply:
        """Send a block_actions payload and wait until the bot has handled it, after its acknowledgement."""
        action = payload["actions"][0]
        key = f"action:{action['action_ts']}:{action['action_id']}:{self.user}"
        modals_before = len(self.h.slack.calls_to("views.open"))
        reply = self.h.slack.send_interaction(payload)
        assert reply.status == 200, reply.body
        self.clicks += 1
        wait_until(lambda: self._handled(key) or len(self.h.slack.calls_to("views.open")) > modals_before)
        self.h.drain()
        return reply

    def _handled(self, key: str) -> bool:
        """The click committed (its request key is recorded) or was refused (its ephemeral is queued)."""
        with Session(self.h.engine) as session:
            return (session.get(ProcessedRequest, key) is not None
                    or session.exec(select(Outbox.id).where(Outbox.dedupe_key == f"tell:{key}")).first() is not None)

    def modal(self) -> View:
        view = self.h.slack.wait_for(lambda: self.h.slack.open_modal(self.user))
        return view

    def submit(self, values: dict[str, Any]) -> BotReply:
        view = self.modal()
        reply = self.h.submit(self.user, view.id, {block: {block: value} for block, value in values.items()})
        assert reply.status == 200, reply.body
        self.clicks += 1
        self.h.drain()
        return reply

    # ---- whole steps --------------------------------------------------------------------------------

    def profile(self, answers: dict[str, str] | None = None) -> None:
        """Answer every field of the client file (Confirmé unless told; an empty one, which cannot be
        confirmed, Non communiqué), then validate."""
        answers = answers or {}
        case = self.case()
        for row, field in enumerate(case.client.profile_fields()):
            if field not in case.profile:
                usual = "confirmed" if confirmable(case, field) else "not_given"
                self.click("step:profile", ids.PROFILE_ANSWER, row, answers.get(field, usual))
        self.click("step:profile", ids.PROFILE_VALIDATE)

    def contracts(self) -> None:
        for row, _contract in enumerate(self.case().contracts):
            self.click("step:contracts", ids.CONTRACT_ANSWER, row, "signed")
        self.click("step:contracts", ids.CONTRACTS_VALIDATE)

    def rebound(self) -> None:
        if self.case().agreement is None:
            self.click("step:rebound", ids.AGREEMENT, 0, "yes")
        for row, _code in enumerate(structuring_protections(self.case())):
            answer = "elsewhere" if row == 0 else "not_covered"
            self.click("step:rebound", ids.PROTECTION_ANSWER, row, answer)
            if answer == "elsewhere":
                self.submit({ids.INPUT_INSURER: "MAIF", ids.INPUT_RENEWAL: "2027-04-01"})
        self.click("step:rebound", ids.PRIORITY_TOGGLE, 1)
        self.submit({ids.INPUT_REASON: "Aucune protection juridique pour son activité"})
        self.click("step:rebound", ids.REBOUND_FINISH)

    def whole_call(self, due: date) -> None:
        """From the start of the call to its closing: the client available, the plainest answer everywhere."""
        self.click("step:preparation", ids.START_CALL)
        self.click("step:contact", ids.ATTEMPT, "available")
        self.profile()
        self.contracts()
        self.rebound()
        self.plan_and_close(due)

    def plan_and_close(self, due: date) -> None:
        self.click("step:action_plan", ids.ACTION_ADD, "rdv")
        self.submit({ids.INPUT_DUE: due.isoformat(), ids.INPUT_PURPOSE: ["bilan_global"]})
        self.click("step:action_plan", ids.CLOSE)
