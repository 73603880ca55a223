"""The sandbox's web page: what a user would see in Slack, drawn from the stand-in's state, and his gestures
(clicks, modal submissions, `/m3` commands, opening the App Home) replayed through the stand-in's own
signed requests to the bot. It listens on 127.0.0.1 only.

    GET  /                                the page (static/index.html, with static/app.js and style.css)
    GET  /api/config                      the users one can act as, the channel, the page's French texts
    GET  /api/state?user=U&since=V        what U sees; waits (long poll) until it differs from version V
    POST /api/click    {user, target, action_id, type, value}   target: {kind: message|ephemeral, channel, ts}
                                                                 or {kind: view, view_id}
    POST /api/submit   {user, view_id, values: {block_id: {action_id: {type, value}}}}
    POST /api/close    {user, view_id}
    GET  /api/file/F                      a file the bot uploaded (charts, exports)
    POST /api/command  {user, text, in_app}   e.g. "/m3 mes-dossiers", typed in the channel or the app
    POST /api/home     {user}              the App Home tab opened (Slack's app_home_opened event)
    POST /api/clock    {user, move}        move the demo clock forward: "hour" or "morning" (see CLOCK_MOVES)

Gestures are JSON only: a browser cannot send JSON to another origin without asking first, so another
web site open in the same browser cannot click for the user. The Host header must name this server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import mimetypes
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import URLError
from zoneinfo import ZoneInfo

import wording
from bot.views.text import moment
from flows.calling_hours import is_legal_call_time, next_legal_call_time
from sandbox.slack_api import BotReply, Ephemeral, Message, SlackError, SlackStandIn, View, host_allowed
from storage.tables import utcnow
from wording import t

STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
POLL_SECONDS = 20.0  # a long poll answers at least this often, so the clock banner stays current
COMMANDS = ("/m3",)
TIME_FORMAT = "%Y-%m-%dT%H:%M"  # the --time option's format, and the datetime-local input's
CLOCK_MOVES = ("hour", "morning")  # one hour later; the next business morning at the agency's opening time


@dataclass(frozen=True)
class PageUser:
    """Someone the page can act as; `role` is "agent" or "lead"."""

    id: str
    email: str
    real_name: str
    role: str

    @property
    def name(self) -> str:
        return self.real_name.split()[0].lower()


class BadGesture(ValueError):
    """A request of the page that names no known user, view or message."""


class SandboxPage:
    """The page's HTTP server over a running stand-in; start() before use, stop() after."""

    def __init__(self, standin: SlackStandIn, *, channel: str, users: Sequence[PageUser], timezone: str,
                 clock_moved: bool = False, move_clock: Callable[[str], datetime] | None = None):
        self.standin = standin
        self._move_clock = move_clock
        self.channel = channel
        self.users = {user.id: user for user in users}
        self.timezone = timezone
        self.clock_moved = clock_moved
        self._errors: dict[tuple[str, str], dict[str, str]] = {}  # (view id, hash) -> the bot's errors
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self, port: int = 0) -> SandboxPage:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True  # open long polls must not hold the process at exit
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="sandbox-page",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the page first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    # ---- what the page reads -----------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "users": [{"id": u.id, "real_name": u.real_name, "role": u.role,
                       "role_label": t(f"sandbox.users.{u.role}")} for u in self.users.values()],
            "bot": {"id": self.standin.bot_user_id, "name": t("sandbox.page.bot_name")},
            "channel": {"id": self.channel, "name": self.standin.channels[self.channel].name},
            "commands": list(COMMANDS),
            "timezone": self.timezone,
            "texts": wording.data("sandbox.page"),
        }

    def state(self, user: str, since: str = "", timeout: float = POLL_SECONDS) -> dict[str, Any]:
        """What `user` sees, once it differs from the version `since` (or after `timeout` seconds)."""
        self._user(user)

        def changed() -> dict[str, Any] | None:
            seen = self._seen_by(user)
            return seen if seen["version"] != since else None

        try:
            # wait_for evaluates its condition under the stand-in's lock: the snapshot is consistent.
            seen = self.standin.wait_for(changed, timeout=timeout)
        except TimeoutError:
            seen = self.standin.wait_for(lambda: self._seen_by(user))
        return {**seen, "clock": self.clock()}

    def _seen_by(self, user: str) -> dict[str, Any]:
        slack = self.standin
        cards = slack.channel_messages(self.channel)
        threads = {card.ts: [m.as_slack() for m in slack.thread(self.channel, card.ts)] for card in cards}
        im = next((c.id for c in slack.channels.values() if c.is_im and c.user == user), None)
        modal = slack.open_modal(user)
        home = slack.home(user)
        seen = {
            "me": user,
            "messages": [{**card.as_slack(), "reply_count": len(threads[card.ts])} for card in cards],
            "threads": threads,
            "ephemerals": [dataclasses.asdict(e) for e in slack.ephemerals_for(user)],
            "im": {"id": im, "messages": [m.as_slack() for m in slack.channel_messages(im)] if im else []},
            "modal": self._view(modal) if modal else None,
            "home": self._view(home) if home else None,
        }
        digest = hashlib.sha1(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()
        return {**seen, "version": digest[:16]}

    def _view(self, view: View) -> dict[str, Any]:
        return {**view.content, "id": view.id, "hash": view.hash, "errors": self._errors.get((view.id, view.hash), {})}

    def clock(self) -> dict[str, Any]:
        """The sandbox's time and whether a metropolitan client may be called now (the engine decides per
        client: overseas clients have their own hours)."""
        now = utcnow()
        legal = is_legal_call_time(now, None)
        state = "legal" if legal else "outside"
        values = {"now": moment(now, self.timezone)}
        if not legal:
            upcoming = next_legal_call_time(now, None)
            values |= {"next": moment(upcoming, self.timezone), "example": upcoming.strftime(TIME_FORMAT)}
        return {
            "legal": legal,
            "moved": self.clock_moved,
            "text": t(f"sandbox.clock.{state}", **values),
            "hint": None if legal else t("sandbox.clock.hint", **values),
            "moved_text": t("sandbox.clock.moved") if self.clock_moved else None,
            "can_move": self._move_clock is not None,
        }

    def move_clock(self, user: str, move: Any) -> dict[str, Any]:
        """Move the demo clock forward (the scheduler then ticks at once); the page's new clock."""
        self._user(user)
        if self._move_clock is None or move not in CLOCK_MOVES:
            raise BadGesture("no such clock move")
        try:
            self._move_clock(move)
        except ImportError:  # time-machine is a development dependency
            return {"clock": self.clock(), "error": t("sandbox.clock.no_time_machine")}
        self.clock_moved = True
        return {"clock": self.clock()}

    # ---- what the page does ------------------------------------------------------------------------

    def click(self, user: str, target: dict[str, Any], action_id: str, kind: str, value: Any) -> BotReply:
        found = self._target(self._user(user), target)
        try:
            return self.standin.click(user, found, str(action_id), self._slack_value(kind, value))
        except KeyError as error:  # no such element or option in that message or view
            raise BadGesture(str(error)) from error

    def submit(self, user: str, view_id: str, values: Any) -> dict[str, Any]:
        """Submit a modal; the bot's `response_action: errors` are kept to show under their fields."""
        view = self._modal(user, view_id)
        if not isinstance(values, dict) or not all(
            isinstance(actions, dict) and all(isinstance(item, dict) for item in actions.values())
            for actions in values.values()
        ):
            raise BadGesture("values: {block_id: {action_id: {type, value}}}")
        typed = {
            block: {action: self._slack_value(item.get("type"), item.get("value")) for action, item in actions.items()}
            for block, actions in values.items()
        }
        try:
            reply = self.standin.submit_view(user, view.id, typed)
        except KeyError as error:  # an option the view does not offer
            raise BadGesture(str(error)) from error
        answer = reply.json() if reply.status == 200 and reply.body else None
        errors = answer.get("errors", {}) if isinstance(answer, dict) and answer.get("response_action") == "errors" else {}
        if errors:
            self._errors[(view.id, view.hash)] = errors
        return {"status": reply.status, "errors": errors}

    def close(self, user: str, view_id: str) -> BotReply:
        return self.standin.close_view(user, self._modal(user, view_id).id)

    def command(self, user: str, text: str, *, in_app: bool = False) -> BotReply:
        """Run a slash command typed in the M+3 channel, or in the app's messages when `in_app`."""
        command, _, rest = text.strip().partition(" ")
        if command not in COMMANDS:
            raise BadGesture(f"unknown command {command!r}")
        channel = None if in_app else self.channel  # the stand-in's default: the user's DM with the app
        return self.standin.slash_command(self._user(user), command, rest.strip(), channel=channel)

    def file(self, file_id: str) -> tuple[str, bytes] | None:
        """A file the bot uploaded (a chart, an export): its name and content."""
        stored = self.standin.files.get(file_id)
        if stored is None or stored["content"] is None:
            return None
        return stored["name"], stored["content"]

    def open_home(self, user: str) -> BotReply:
        return self.standin.app_home_opened(self._user(user))

    # ---- checking what the page sent ---------------------------------------------------------------

    def _user(self, user: Any) -> str:
        if user not in self.users:
            raise BadGesture("unknown user")
        return user

    def _modal(self, user: str, view_id: Any) -> View:
        modal = self.standin.open_modal(self._user(user))
        if modal is None or modal.id != view_id:
            raise BadGesture("no such open modal")
        return modal

    def _target(self, user: str, target: Any) -> Message | Ephemeral | View:
        kind = target.get("kind") if isinstance(target, dict) else None
        try:
            if kind == "message":
                return self.standin.message(str(target["channel"]), str(target["ts"]))
            if kind == "ephemeral":
                return next(e for e in self.standin.ephemerals_for(user) if e.ts == target["ts"])
            if kind == "view":
                view = self.standin.views[str(target["view_id"])]
                if view.user == user:
                    return view
        except (KeyError, StopIteration, SlackError) as error:
            raise BadGesture("no such message or view") from error
        raise BadGesture("no such message or view")

    def _slack_value(self, kind: Any, value: Any) -> Any:
        """A form control's value as Slack sends it: empty is None, a date-time is a Unix time read in the
        agency's time zone (the page's date-time input has no zone)."""
        if value in ("", None):
            return None
        if kind == "datetimepicker":
            try:
                local = datetime.strptime(str(value), TIME_FORMAT).replace(tzinfo=ZoneInfo(self.timezone))
            except ValueError as error:
                raise BadGesture("bad date-time") from error
            return int(local.timestamp())
        return value


def _handler_for(page: SandboxPage) -> type[BaseHTTPRequestHandler]:
    gestures = {
        "/api/click": lambda b: _reply_of(page.click(b.get("user"), b.get("target") or {}, b.get("action_id"),
                                                     b.get("type"), b.get("value"))),
        "/api/submit": lambda b: page.submit(b.get("user"), b.get("view_id"), b.get("values") or {}),
        "/api/close": lambda b: _reply_of(page.close(b.get("user"), b.get("view_id"))),
        "/api/command": lambda b: _reply_of(page.command(b.get("user"), str(b.get("text") or ""),
                                                         in_app=bool(b.get("in_app")))),
        "/api/home": lambda b: _reply_of(page.open_home(b.get("user"))),
        "/api/clock": lambda b: page.move_clock(b.get("user"), b.get("move")),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # requests carry client names: no access log
            pass

        def do_GET(self) -> None:
            if not self._host_ok():
                return
            path, _, query = self.path.partition("?")
            params = dict(urllib.parse.parse_qsl(query))
            if path == "/":
                self._file("index.html")
            elif path.startswith("/static/"):
                self._file(path.removeprefix("/static/"))
            elif path == "/api/config":
                self._json(200, page.config())
            elif path == "/api/state":
                self._answer(lambda: page.state(params.get("user", ""), params.get("since", "")))
            elif path.startswith("/api/file/") and (found := page.file(path.removeprefix("/api/file/"))):
                name, content = found
                self._send(200, content, mimetypes.guess_type(name)[0] or "application/octet-stream")
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if not self._host_ok():
                return
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            gesture = gestures.get(self.path)
            if gesture is None:
                self._json(404, {"error": "not_found"})
            elif not (self.headers.get("Content-Type") or "").startswith("application/json"):
                self._json(415, {"error": "json_only"})
            else:
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._json(400, {"error": "bad_json"})
                    return
                self._answer(lambda: gesture(body if isinstance(body, dict) else {}))

        def _host_ok(self) -> bool:
            if host_allowed(self.headers.get("Host"), self.server.server_address[1]):
                return True
            self._json(403, {"error": "wrong_host"})
            return False

        def _answer(self, produce: Any) -> None:
            try:
                status, body = 200, produce()
            except BadGesture as error:
                status, body = 400, {"error": str(error)}
            except (URLError, OSError):  # the bot is not up (yet): the page says so and the user retries
                status, body = 502, {"error": "bot_unreachable"}
            self._json(status, body)

        def _file(self, name: str) -> None:
            path = (STATIC / name).resolve()
            if path.parent != STATIC.resolve() or path.suffix not in STATIC_TYPES or not path.is_file():
                self._json(404, {"error": "not_found"})
                return
            self._send(200, path.read_bytes(), f"{STATIC_TYPES[path.suffix]}; charset=utf-8")

        def _json(self, status: int, body: Any) -> None:
            self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            try:
                self.end_headers()
                self.wfile.write(data)
            except ConnectionError:  # the page went away (reloaded, or dropped a long poll): no one to tell
                self.close_connection = True

    return Handler


def _reply_of(reply: BotReply) -> dict[str, Any]:
    """The bot's HTTP answer as the page needs it: a failed acknowledgement is shown to the user."""
    return {"status": reply.status}
