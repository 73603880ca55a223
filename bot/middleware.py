"""The global middleware: who acts, on which case, under which idempotency key, before any listener runs.

Everything read from a Slack payload is untrusted. A button value or `private_metadata` the bot did not write,
or naming a case that does not exist, is answered here (acknowledged, the user told in French) and never
reaches a listener. Slack's retries of an event already seen are acknowledged and dropped.
Logs name the kind of request and the reason, never a person; so does the app's error handler, which
replaces Bolt's own (Bolt logs the exception's text, where a database error quotes the row it failed on).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import select

from bot.context import BotDeps
from bot.payloads import ORIGIN, BadPayload, check_shape, decode
from service.access import NoteLeadAccess, note_lead_access
from storage.tables import M3Case, ProcessedRequest, utcnow
from storage.workspaces import all_workspaces
from wording import t

log = logging.getLogger(__name__)

REMEMBERED_EVENTS = 10_000
REMEMBERED_CASES = 10_000  # an agency's open cases, with room to spare
MAX_URL = 500  # a response_url is about 100 characters


class _RecentKeys:
    """The last keys this process saw (event keys: a Slack retry of one still in hand is not handled twice;
    case ids known to exist: a case is never deleted, so its next click needs no statement to check it)."""

    def __init__(self, size: int):
        self._keys: OrderedDict[Any, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, key: Any) -> bool:
        """Remember `key`; False when it was already there."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys


def install(app: App, deps: BotDeps, background: Executor) -> None:
    """Register the middleware; `background` sends refusals after the acknowledgement has gone."""
    seen_events = _RecentKeys(REMEMBERED_EVENTS)
    known_cases = _RecentKeys(REMEMBERED_CASES)

    def load_request_context(
        request: BoltRequest, body: dict[str, Any], context: dict[str, Any], client: WebClient, next: Callable[[], None]
    ) -> BoltResponse | None:
        kind = _kind(body)
        user_id = _user_id(body)
        workspace = context["workspace_id"] = deps.workspaces.workspace(context.team_id)
        if workspace is None:
            # A team this service does not serve (uninstalled, or never installed): nothing to show it.
            log.warning("%s from a team this service does not serve, dropped", kind if isinstance(kind, str) else "request")
            return BoltResponse(status=200, body="")
        context["deps"] = request_deps = deps.of(workspace, deps.workspaces.chosen(workspace))
        context["case_id"], context["case_args"] = None, {}
        context["actor"] = deps.agents.actor(client, workspace, user_id) if user_id else None
        context["is_lead"] = user_id in request_deps.leads
        context["request_key"] = _request_key(kind, body)

        if kind == "event_callback" and context["request_key"]:
            first_time = seen_events.add(context["request_key"])
            if request.headers.get("x-slack-retry-num") and (not first_time or _processed(deps, context["request_key"])):
                log.info("Slack retry of an event already handled, dropped (%s)", body.get("event", {}).get("type"))
                return BoltResponse(status=200, body="")

        if kind in ("block_actions", "view_submission"):
            try:
                case_id, case_args = decode(_carried(kind, body))
            except BadPayload as error:
                return _refuse(kind, body, client, background, t("bot.refusal.unknown_action"), str(error))
            # A case id of another agency's is not found: its session sees only its own workspace's rows.
            if case_id is not None and (workspace, case_id) not in known_cases:
                if not _case_exists(request_deps, case_id):
                    return _refuse(kind, body, client, background, t("bot.refusal.unknown_case"), f"no case {case_id}")
                known_cases.add((workspace, case_id))
            context["respond"] = _respond_to(kind, body, case_args.pop(ORIGIN, None), deps.settings.slack_api_url)
            context["case_id"], context["case_args"] = case_id, case_args
            if case_id is not None and context["is_lead"]:
                _note_lead_access(request_deps, case_id, context["actor"], user_id, kind)
        next()
        return None

    app.use(_ShapeCheck())
    app.middleware(load_request_context)
    app.error(log_error)


def log_error(error: Exception, body: dict[str, Any], context: BoltContext) -> None:
    """Every error of a listener or a middleware: what failed and on which request, by ids only. Neither the
    exception's text nor its traceback: both can quote the client's data (a database error, its row)."""
    kind = _kind(body)
    kind = kind if isinstance(kind, str) else "request"
    name = _action_id(body) or body.get("command")
    where = f"{kind} {name if isinstance(name, str) else '-'} (case {context.get('case_id')}, team {context.team_id})"
    log.error("%s failed: %s", where, type(error).__name__)


class _ShapeCheck(Middleware):
    """Runs before the function middleware above: Bolt reads the body while preparing a function
    middleware's arguments and fails on fields of the wrong type (a 500); this refuses them first."""

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        kind = _kind(req.body)
        try:
            check_shape(kind, req.body)
        except BadPayload as error:  # nobody to tell: who clicked is among the fields that are wrong
            log.warning("%s refused before any listener: %s", kind if isinstance(kind, str) else "request", error)
            return BoltResponse(status=200, body="")
        return next()


def _kind(body: dict[str, Any]) -> str | None:
    if "command" in body and "trigger_id" in body:
        return "slash_command"
    return body.get("type")


def _user_id(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("user"), dict):
        return body["user"].get("id")
    if "user_id" in body:
        return body["user_id"]
    event = body.get("event")
    return event.get("user") if isinstance(event, dict) and isinstance(event.get("user"), str) else None


def _request_key(kind: str | None, body: dict[str, Any]) -> str | None:
    """Slack's event, view and trigger ids are unique to the app, and a user id to its workspace: a key never
    names two agencies' requests."""
    if kind == "block_actions" and body.get("actions"):
        action = body["actions"][0]
        return f"action:{action.get('action_ts')}:{action.get('action_id')}:{_user_id(body)}"
    if kind == "view_submission":
        return f"view:{body['view'].get('id')}:{body['view'].get('hash')}"
    if kind == "slash_command":
        return f"command:{body.get('trigger_id')}"
    if kind == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    return None


def _action_id(body: dict[str, Any]) -> str | None:
    """The clicked control's id, else the modal's callback id; None in a body whose fields are not the usual
    ones (the error handler sees bodies no shape check has passed)."""
    actions, view = body.get("actions"), body.get("view")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict) and actions[0].get("action_id"):
        return actions[0]["action_id"]
    return view.get("callback_id") if isinstance(view, dict) else None


def _carried(kind: str, body: dict[str, Any]) -> str | None:
    """The bot's own encoded text: a button's value, else the modal's metadata, else a select's option value."""
    if kind == "view_submission":
        return body["view"].get("private_metadata")
    action = (body.get("actions") or [{}])[0]
    if "value" in action:
        return action["value"]
    if body.get("view"):
        return body["view"].get("private_metadata")
    return (action.get("selected_option") or {}).get("value")


def _respond_to(kind: str, body: dict[str, Any], origin: Any, api_url: str) -> dict[str, str] | None:
    """The clicked message's response_url, its ts and the click's time, for delivery to replace that message
    (`bot.outbox_delivery`): a button's comes with the click, a modal's from the click that opened it (its
    private_metadata, see `listeners.common.open_modal`). Only Slack's own hosts (or the configured API's,
    a stand-in) are accepted: delivery posts the message's content there."""
    if kind == "block_actions":
        container = body.get("container") or {}
        if container.get("type") != "message" or container.get("is_ephemeral"):
            return None
        origin = [body.get("response_url"), container.get("message_ts"), utcnow().isoformat()]
    if not (isinstance(origin, list) and len(origin) == 3 and all(isinstance(part, str) for part in origin)):
        return None
    url, ts, at = origin
    allowed = ("https://hooks.slack.com/", api_url.rstrip("/").removesuffix("/api") + "/")
    try:
        datetime.fromisoformat(at)
    except ValueError:
        return None
    if len(url) > MAX_URL or not url.startswith(allowed) or not ts:
        return None
    return {"url": url, "ts": ts, "at": at}


def _case_exists(deps: BotDeps, case_id: int) -> bool:
    with deps.read() as session:
        return session.exec(select(M3Case.id).where(M3Case.id == case_id)).first() is not None


def _note_lead_access(deps: BotDeps, case_id: int, actor: str | None, user_id: str | None, kind: str) -> None:
    """A lead clicking in a case assigned to another agent is a read of client data: the trail records it."""
    note_lead_access(NoteLeadAccess(case_id, actor, kind), deps.uow(actor or f"slack:{user_id}"))


def _processed(deps: BotDeps, key: str) -> bool:
    with all_workspaces(deps.engine) as session:  # keys are unique across agencies (`_request_key`)
        return session.get(ProcessedRequest, key) is not None


def _refuse(
    kind: str, body: dict[str, Any], client: WebClient, background: Executor, text: str, reason: str
) -> BoltResponse:
    log.warning("%s refused before any listener (%s): %s", kind, _action_id(body), reason)
    if kind == "view_submission":
        block_id = next((b.get("block_id") for b in body["view"].get("blocks", []) if b.get("type") == "input"), None)
        if block_id:
            return BoltResponse(status=200, body={"response_action": "errors", "errors": {block_id: text}})
    background.submit(_tell, client, body, text)
    return BoltResponse(status=200, body="")


def _tell(client: WebClient, body: dict[str, Any], text: str) -> None:
    """An ephemeral message where the user clicked; the app's DM when there is no channel (Home, modal)."""
    user = _user_id(body)
    channel = (body.get("channel") or {}).get("id")
    thread_ts = (body.get("container") or {}).get("thread_ts")
    try:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        else:
            client.chat_postMessage(channel=user, text=text)
    except SlackApiError as error:
        log.warning("refusal not delivered: %s", error.response.get("error"))
