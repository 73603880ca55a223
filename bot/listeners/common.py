"""What the listeners share: the case of the request read without a lock (to fill a modal), opening a
modal, applying a command and telling the agent when it is refused."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import wording
from bot.context import BotDeps
from bot.dispatch import apply, tell
from bot.payloads import BadPayload, with_origin
from bot.rendering import slack_id
from flows.case import Case
from flows.engine import Refused, authorize
from storage.repository import load_case
from storage.tables import utcnow
from wording import t

log = logging.getLogger(__name__)


def case_of(context: dict[str, Any], command: Any = None) -> Case:
    """The case, read without a lock to fill a modal, once the user is known to be allowed to act on it
    (`command` names what the modal leads to when only some users may do it)."""
    deps: BotDeps = context["deps"]
    with deps.read() as session:
        case = load_case(session, case_id_of(context), lock=False)
    authorize(case, context.get("actor"), is_lead=context.get("is_lead", False), command=command)
    return case


def slack_user_of(context: dict[str, Any], email: str | None) -> str | None:
    """The Slack user ID of an agent, to preselect him in a user select."""
    deps: BotDeps = context["deps"]
    with deps.read() as session:
        return slack_id(session, email)


class ModalNotOpened(Exception):
    """views.open failed (Slack error, timeout, expired trigger): the user is told to click again."""


def open_modal(client: WebClient, body: dict[str, Any], view: dict[str, Any]) -> None:
    # The modal's result replaces the message clicked to open it: its response_url rides in the metadata.
    container = body.get("container") or {}
    if body.get("response_url") and container.get("type") == "message" and not container.get("is_ephemeral"):
        origin = [body["response_url"], container.get("message_ts") or "", utcnow().isoformat()]
        view = {**view, "private_metadata": with_origin(view["private_metadata"], origin)}
    # trigger_id lives 3 seconds and works once: open the modal before anything else.
    try:
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as error:
        raise ModalNotOpened(error.response.get("error") or f"http_{error.response.status_code}") from error
    except (URLError, OSError) as error:  # a timeout or a reset connection
        raise ModalNotOpened(type(error).__name__) from error


def click_again(context: dict[str, Any], body: dict[str, Any], failure: ModalNotOpened) -> None:
    """The modal did not open: an ephemeral message asks the user to click again (the click's trigger is spent,
    the next one brings a new one). Keyed by trigger, so a second failure of the resent click is told too."""
    log.warning("modal not opened: %s", failure)
    tell(context, body, t("listeners.modal_failed"), key=f"modal_failed:{body.get('trigger_id')}")


def say(client: WebClient, channel: str, text: str) -> None:
    """A message in a conversation (a user ID: the app's direct message with him), said once: a failure is
    logged by Slack's error code, the text never."""
    try:
        client.chat_postMessage(channel=channel, text=text)
    except SlackApiError as error:
        log.warning("message not delivered: %s", error.response.get("error"))


def case_id_of(context: dict[str, Any]) -> int:
    """The case the request names: a case's control carrying no case was not written by the bot."""
    if context.get("case_id") is None:
        raise BadPayload("no case named")
    return context["case_id"]


def answer(context: dict[str, Any], body: dict[str, Any], client: WebClient, command: Any, *,
           modal: Callable[[Case], dict[str, Any]] | None) -> None:
    """An answer button: applied at once, or, when it needs details (`modal`), the modal that asks them."""
    if modal is None:
        run(context, body, command)
    else:
        open_modal(client, body, modal(case_of(context)))


def run(context: dict[str, Any], body: dict[str, Any], command: Any) -> None:
    """Apply a button's command on the click pool (`bot.app.WORK_THREADS`), so that this listener thread is
    free for the next acknowledgement; a refusal is told to the agent in an ephemeral message."""
    case_id_of(context)
    deps: BotDeps = context["deps"]
    deps.work.submit(_apply_click, context, body, command)


def _apply_click(context: dict[str, Any], body: dict[str, Any], command: Any) -> None:
    try:
        refusal = apply(context, command)
        if refusal is not None:
            tell(context, body, wording.refusal(refusal))
    except Exception as error:  # nobody else sees a pool's errors; by type only, as `middleware.log_error`
        log.error("%s on case %s failed: %s", type(command).__name__, context.get("case_id"), type(error).__name__)


def submit_to_case(ack: Ack, context: dict[str, Any], command: Any, field: str) -> bool:
    """A modal's command (or the field errors its form gave) applied to the case it names; a refusal is shown
    under `field`. True once applied and acknowledged."""
    if isinstance(command, dict):
        ack(response_action="errors", errors=command)
        return False
    try:
        case_id_of(context)
        refusal = apply(context, command)
        error = wording.refusal(refusal) if refusal is not None else None
    except BadPayload:
        error = t("bot.refusal.unknown_action")
    if error is not None:
        ack(response_action="errors", errors={field: error})
        return False
    ack()
    return True


def arg(context: dict[str, Any], key: str, kind: type | None = None) -> Any:
    """An argument the button carried, checked: untrusted until it is a valid `kind` (an enum, int or str)."""
    value = context["case_args"].get(key)
    if kind is None:
        return value
    try:
        if kind in (int, bool, str) and type(value) is not kind:
            raise ValueError(value)
        return kind(value)
    except (TypeError, ValueError) as error:
        raise BadPayload(f"argument {key} is not a {kind.__name__}") from error


def untrusted(listener: Callable[..., None]) -> Callable[..., None]:
    """Wrap an action listener: an argument the bot did not write is told to the user, never raised."""

    def wrapper(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        ack()
        try:
            listener(body=body, context=context, client=client)
        except BadPayload as error:
            log.warning("%s refused: %s", listener.__name__, error)
            tell(context, body, t("bot.refusal.unknown_action"))
        except Refused as refusal:
            tell(context, body, wording.refusal(refusal))
        except ModalNotOpened as failure:
            click_again(context, body, failure)

    # Not functools.wraps: Bolt reads the signature to pass arguments, and must see this one (with ack).
    wrapper.__name__ = listener.__name__
    return wrapper
