"""Modal submissions: each form becomes a command, applied before the acknowledgement so that a wrong value
or a refused step is shown under the field, in the modal, as Slack does it (`response_action: errors`).

The unit of work takes milliseconds, well inside Slack's 3 seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlmodel import select

import wording
from bot import forms
from bot.context import BotDeps
from bot.dispatch import apply_form, tell
from bot.listeners.common import arg, case_id_of
from bot.listeners.views import opening
from bot.payloads import BadPayload
from bot.rendering import agency_today
from bot.views import ids
from flows.case import Case
from storage.tables import Agent, utcnow
from wording import t

log = logging.getLogger(__name__)


class AgentEmails(Mapping[str, str]):
    """Slack user ID -> agent e-mail, matching on first use a user the bot has not met yet."""

    def __init__(self, deps: BotDeps, client: WebClient) -> None:
        self._deps, self._client = deps, client
        assert deps.workspace is not None, "a request's dependencies"
        self._workspace = deps.workspace

    def __getitem__(self, user_id: str) -> str:
        email = self._deps.agents.actor(self._client, self._workspace, user_id)
        if email is None:
            raise KeyError(user_id)
        return email

    def __iter__(self) -> Iterator[str]:
        with self._deps.read() as session:
            return iter(list(session.exec(select(Agent.slack_user_id).where(Agent.slack_user_id.is_not(None)))))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, user_id: object) -> bool:
        return isinstance(user_id, str) and self._deps.agents.actor(self._client, self._workspace, user_id) is not None


def chosen_agents(deps: BotDeps, client: WebClient, values: Any) -> dict[str, str]:
    """Slack user ID -> agent e-mail of the users picked in a form's user selects, matched before the
    unit of work: matching may ask Slack and write the agent, which must not wait inside a transaction."""
    picked: set[str] = set()
    for block in values.values() if isinstance(values, dict) else ():
        for state in block.values() if isinstance(block, dict) else ():
            if not isinstance(state, dict):
                continue
            users = [state.get("selected_user"), *(state.get("selected_users") or [])]
            picked.update(user for user in users if isinstance(user, str))
    emails = AgentEmails(deps, client)
    return {user: emails[user] for user in picked if user in emails}


Parser = Callable[[dict[str, Any], Any, Case, dict[str, str]], Any]

# callback_id -> how its values become a command (or a dict of errors by block_id).
PARSERS: dict[str, Parser] = {
    ids.MODAL_PROFILE_FIELD: lambda ctx, values, case, _emails: forms.parse_profile_change(
        values, case, arg(ctx, "f", str), agency_today(ctx["deps"].settings)),
    ids.MODAL_MISSING_PIECE: lambda ctx, values, case, _emails: forms.parse_missing_piece(values, case, arg(ctx, "n", str)),
    ids.MODAL_ELSEWHERE: lambda ctx, values, case, _emails: forms.parse_elsewhere(values, case),
    ids.MODAL_ACTION: lambda ctx, values, case, emails: forms.parse_action(
        values, agency_today(ctx["deps"].settings), emails),
    ids.MODAL_CALLBACK: lambda ctx, values, case, _emails: forms.parse_callback(values, utcnow()),
    ids.MODAL_CLOSE_EARLY: lambda ctx, values, case, _emails: forms.parse_close_early(values),
    ids.MODAL_NEED: lambda ctx, values, case, _emails: forms.parse_need(values),
    ids.MODAL_PRIORITY: lambda ctx, values, case, _emails: forms.parse_priority(values, case, arg(ctx, "p", str)),
    ids.MODAL_REASSIGN: lambda ctx, values, case, emails: forms.parse_reassign(values, emails),
}


def _first_input(view: dict[str, Any]) -> str | None:
    return next((b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"), None)


def _refuse_in_modal(ack: Ack, view: dict[str, Any], text: str, body: dict[str, Any], context: dict[str, Any]) -> None:
    block_id = _first_input(view)
    if block_id is None:  # a modal without inputs cannot show an error: tell the user in the channel instead
        ack()
        tell(context, body, text)
    else:
        ack(response_action="errors", errors={block_id: text})


def submit_case_form(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any],
                     client: WebClient) -> None:
    parser = PARSERS[view["callback_id"]]
    try:
        case_id_of(context)
        values = view["state"]["values"]
        emails = chosen_agents(context["deps"], client, values)
        result = apply_form(context, lambda case: parser(context, values, case, emails))
    except BadPayload as error:
        log.warning("%s refused: %s", view.get("callback_id"), error)
        return _refuse_in_modal(ack, view, t("bot.refusal.unknown_action"), body, context)
    if isinstance(result, dict):
        return ack(response_action="errors", errors=result)
    if result is not None:
        return _refuse_in_modal(ack, view, wording.refusal(result), body, context)
    ack()


def register(app: App) -> None:
    for callback_id in PARSERS:
        app.view(callback_id)(submit_case_form)
    app.view(ids.MODAL_OPEN_CASE)(opening.submit_open_case)
