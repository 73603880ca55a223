"""A local stand-in for the Slack Web API, and the Slack side of interactions, on 127.0.0.1 only.

The bot talks to it through `WebClient(base_url=standin.api_url)`; it answers the methods the bot calls with
Slack's documented shapes and errors, keeps channels, threads, ephemerals and views in memory, records every
call, and can be told to fail (HTTP 500, slowness, `ratelimited` with `Retry-After`). It also plays Slack
towards the bot: clicks, view submissions, slash commands and events, signed as Slack signs them.
The tests use it; the local sandbox (issue 5) grows on the same public API.

Slack's limits: given `limits=Limits()` it applies Slack's documented rate limits (see `Limits`) with token
buckets read on its `clock`, and answers 429 `ratelimited` with `Retry-After` past them, counting what it
refused (`refused`, `refused_posts`). Without `limits` (the tests' default) it limits nothing but what a test
asks for (`ratelimit`, `rate`). A `response_url` always takes at most 5 uses within 30 minutes, and a trigger
expires after 3 seconds, as Slack documents. Every change of a message's content is recorded in `edits`
(through `chat.update` or a `response_url`), for benchmarks timing what the user sees.

Several workspaces: the default team answers to `token`; others install the app as Slack's OAuth does
(`approve` an authorize URL, then the app's `oauth.v2.access` exchanges the code for the team's own bot
token) or are seeded with `install`. Every token answers for its team (`auth.test`), every call is recorded
with the token it came with (`Call.token`, `Call.team`), and what the stand-in sends towards the bot names the
team given (`team=`), the default one otherwise.

Like the page (`sandbox.web`), it answers only requests whose Host names it (127.0.0.1 or localhost and its
port) and only the content types Slack takes; its token and signing secret are random per instance.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View as ViewModel
from slack_sdk.signature import SignatureVerifier

from storage import outbox

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
TRIGGER_LIFETIME = 3.0  # seconds, as Slack documents
RESPONSE_URL_USES = 5  # a response_url takes at most this many posts ...
RESPONSE_URL_LIFETIME = 30 * 60.0  # ... within this many seconds of the interaction, as Slack documents
POSTS = "chat.postMessage"
# The rate-limit tier of each method the stand-in implements, from each method's reference page ("Facts").
# "special": Slack says "hundreds of requests per minute"; chat.postMessage has its own rules (see Limits).
# conversations.replies is tier 3 for internal apps like this one (commercially distributed apps outside
# the Marketplace get 1 a minute since 2025). No method the stand-in implements is tier 1 or 2.
METHOD_TIERS: Mapping[str, int | str] = {
    "auth.test": "special",
    "chat.getPermalink": "special",
    "chat.update": 3,
    "chat.delete": 3,
    "users.lookupByEmail": 3,
    "conversations.info": 3,
    "conversations.replies": 3,
    "conversations.open": 3,
    "chat.postEphemeral": 4,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
    "users.info": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}
ALLOWED_HOSTS = ("127.0.0.1", "localhost")


def host_allowed(host: str | None, port: int) -> bool:
    """Whether a request's Host header names a server of ours listening on 127.0.0.1:`port` (so that a web
    page elsewhere cannot reach it through a DNS name rebound to 127.0.0.1)."""
    return host in {f"{name}:{port}" for name in ALLOWED_HOSTS}


@dataclass(frozen=True)
class Limits:
    """Slack's rate limits as the stand-in applies them, per app and per workspace (the stand-in is one
    workspace): a token bucket per method of a tier, holding `tier_burst` calls and refilled at the tier's
    rate; `chat.postMessage` a bucket per channel and one for the whole workspace, a post needing both.

    Slack documents the tiers' rates ("Tier 3: 50+ per minute", "Tier 4: 100+ per minute") and about one post
    a second per channel "while also maintaining a workspace-wide limit"; it publishes neither burst sizes
    nor that workspace-wide limit, so those are settings whose defaults are ours: bursts of 10 for tiers
    (the issue's measurements used 10) and 3 for a channel, and 300 posts a minute in the workspace, well
    above one channel's rate so that it binds only when the bot posts to many channels at once.

    `scaled(10)` runs every rate ten times faster (bursts unchanged) for benchmarks, which must say so;
    `speedup` tells by how much. `Retry-After` stays in whole seconds as Slack sends it, so under a speed-up
    it over-states the wait.
    """

    tier3_per_minute: float = 50.0
    tier4_per_minute: float = 100.0
    special_per_minute: float = 300.0  # auth.test, chat.getPermalink: "hundreds of requests per minute"
    tier_burst: int = 10
    channel_posts_per_second: float = 1.0
    channel_post_burst: int = 3
    workspace_posts_per_minute: float = 300.0
    workspace_post_burst: int = 20
    speedup: float = 1.0

    def scaled(self, factor: float) -> Limits:
        """The same limits with every rate `factor` times faster."""
        return replace(self, speedup=self.speedup * factor)

    def per_second(self, method: str) -> float | None:
        """The steady rate of a tiered method (calls per second, speed-up included), None if not limited."""
        tier = METHOD_TIERS.get(method)
        per_minute = {3: self.tier3_per_minute, 4: self.tier4_per_minute, "special": self.special_per_minute}.get(tier)
        return None if per_minute is None else per_minute / 60 * self.speedup

    @property
    def channel_post_rate(self) -> float:
        """Posts per second in one channel, speed-up included."""
        return self.channel_posts_per_second * self.speedup

    @property
    def workspace_post_rate(self) -> float:
        """Posts per second in the whole workspace, speed-up included."""
        return self.workspace_posts_per_minute / 60 * self.speedup

    def floor(self, calls: Sequence[Call]) -> float:
        """The least time (seconds) these calls need under these limits, every bucket full at the start:
        the busiest bucket's calls past its burst, at its rate."""
        taken: Counter[tuple[str, str]] = Counter()
        rates: dict[tuple[str, str], tuple[float, int]] = {}
        for call in calls:
            for key, _limit, per_second, burst in self.buckets(call.method, str(call.args.get("channel") or "")):
                taken[key] += 1
                rates[key] = (per_second, burst)
        return max([max(0, taken[key] - burst) / per_second for key, (per_second, burst) in rates.items()], default=0.0)

    def buckets(self, method: str, channel: str) -> list[tuple[tuple[str, str], str, float, int]]:
        """The buckets a call takes a token from: (key, which limit, rate per second, burst)."""
        if method == POSTS:
            return [((POSTS, channel), "channel", self.channel_post_rate, self.channel_post_burst),
                    ((POSTS, ""), "workspace", self.workspace_post_rate, self.workspace_post_burst)]
        rate = self.per_second(method)
        return [] if rate is None else [((method, ""), "method", rate, self.tier_burst)]


@dataclass
class _Bucket:
    """A token bucket: `burst` tokens at first, refilled at `per_second`; a call takes one."""

    per_second: float
    burst: float
    tokens: float
    at: float

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now)."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        missing = 1 - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.per_second  # (float error on an exact refill)


class SlackError(Exception):
    """An `ok: false` answer; `extra` adds Slack's detail fields (e.g. `errors` of invalid_blocks)."""

    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class User:
    id: str
    email: str
    name: str
    real_name: str = ""
    is_admin: bool = False  # an admin of the workspace (Slack also says is_owner, is_primary_owner)

    def as_slack(self, team_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "deleted": False,
            "is_bot": False,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "profile": {"email": self.email, "real_name": self.real_name or self.name, "display_name": self.name},
        }


@dataclass
class Channel:
    id: str
    name: str
    is_im: bool = False
    user: str | None = None  # the other party of an IM
    is_member: bool = True  # whether the bot was invited
    is_private: bool = False  # a private channel: reading it needs the groups:* scopes


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str
    thread_ts: str | None = None
    edited: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None  # {"event_type", "event_payload"} given to chat.postMessage/update

    def as_slack(self, *, with_metadata: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "user": self.user, "text": self.text}
        if with_metadata and self.metadata:
            data["metadata"] = self.metadata
        if self.blocks:
            data["blocks"] = self.blocks
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.edited:
            data["edited"] = {"user": self.user, "ts": self.ts}
        if self.files:
            data["files"] = self.files
        return data


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None


@dataclass
class View:
    id: str
    user: str
    type: str  # modal or home
    content: dict[str, Any]
    hash: str
    root_id: str
    previous_id: str | None = None
    external_id: str | None = None

    def as_slack(self, team_id: str, app_id: str) -> dict[str, Any]:
        return {
            **self.content,
            "id": self.id,
            "team_id": team_id,
            "app_id": app_id,
            "hash": self.hash,
            "root_view_id": self.root_id,
            "previous_view_id": self.previous_id,
            "external_id": self.external_id or "",
            "private_metadata": self.content.get("private_metadata", ""),
            "callback_id": self.content.get("callback_id", ""),
            "state": {"values": {}},
        }


@dataclass
class Call:
    """One Web API call as received: method, parsed arguments, and when (time.monotonic()); `refused_by`
    names the limit that answered it 429 ("method", "channel", "workspace"; None otherwise, injected faults
    included)."""

    method: str
    args: dict[str, Any]
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    refused_by: str | None = None
    token: str | None = None  # the token the call came with
    team: str | None = None  # the team that token answers for (None: no valid token)


@dataclass(frozen=True)
class ResponsePost:
    """One post to a response_url as received: which URL, its body, whether Slack's answer was 200, and when
    (time.monotonic())."""

    response_id: str
    body: dict[str, Any]
    ok: bool
    at: float


@dataclass(frozen=True)
class Edit:
    """A message's content replaced: where, when (time.monotonic()), how ("chat.update" or "response_url"),
    and its new content's `content_digest`."""

    channel: str
    ts: str
    at: float
    via: str
    digest: str


def content_digest(text: str, blocks: list[dict[str, Any]]) -> str:
    """A short fingerprint of a message's content, the outbox's own (`storage.outbox.content_digest`): an edit
    is matched to the outbox row that queued it."""
    return outbox.content_digest({"text": text, "blocks": blocks})


@dataclass
class _ResponseUrl:
    channel: str
    ts: str | None
    user: str
    issued: float
    uses: int = 0


@dataclass
class BotReply:
    """The bot's HTTP answer to something the stand-in sent it."""

    status: int
    body: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class _Fault:
    times: int
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    after_answer: bool = False  # the call is carried out at once and only its answer is late


class SlackStandIn:
    """The Web API stand-in server plus the state it keeps; start() before use, stop() after.

    `token` and `signing_secret` are random unless given. `limits`: Slack's rate limits to apply (`Limits()`
    for Slack's, `Limits().scaled(10)` ten times faster), or None to apply none; it can be replaced between
    runs (the buckets start full again). `clock` (seconds, monotonic) is what the buckets, triggers and
    response URLs read, so that a test can move time instead of sleeping.

    Counters, for tests and benchmarks (read them under no lock; they only grow):
    - `refused`: per method, the calls the limits answered 429 (injected `ratelimit` faults not included);
    - `refused_posts`: per channel argument, the `chat.postMessage` calls among them, whichever of the
      channel's or the workspace's bucket was empty;
    - `refused_responses`: per Slack answer (`used_url`, `expired_url`), the response_url posts refused;
    - `edits`: every change of a message's content, through `chat.update` or a response_url;
    - `responses`: every post to a response_url, answered or refused.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        signing_secret: str | None = None,
        team_id: str = "T0STANDIN",
        app_id: str = "A0STANDIN",
        bot_user_id: str = "U0BOT",
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        scopes: frozenset[str] | None = None,
    ):
        self.token = token or f"xoxb-{secrets.token_hex(16)}"
        self.signing_secret = signing_secret or secrets.token_hex(32)
        # The app's credentials for Slack's OAuth (hosted mode): `oauth.v2.access` checks them.
        self.client_id = f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}"
        self.client_secret = secrets.token_hex(16)
        self.verification_token = secrets.token_hex(12)  # the legacy field of payloads; Bolt does not check it
        self.team_id = team_id
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.clock = clock
        self.team_names: dict[str, str] = {team_id: "Stand-in"}
        self.installed: dict[str, str] = {}  # bot token -> team, for the teams other than the default one
        self._codes: dict[str, tuple[str, str, str]] = {}  # OAuth code -> (team, installer, scopes), used once
        self.rotating: dict[str, int] = {}  # team -> its tokens' lifetime (seconds), with token rotation on
        self._refresh: dict[str, str] = {}  # refresh token -> team, used once
        self._serving: Call | None = None  # the call being answered (under the lock)
        # The bot token's scopes (None grants every one): a call needing another is refused, and each answer
        # names them in its X-OAuth-Scopes header as Slack does.
        self.scopes = scopes
        self.bot_url: str | None = None  # where interactions go, e.g. http://127.0.0.1:3000/slack/events
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: dict[str, list[Message]] = defaultdict(list)
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, View] = {}
        self.modal_stacks: dict[str, list[str]] = defaultdict(list)  # user -> view ids, root first
        self.homes: dict[str, str] = {}  # user -> home view id
        self.files: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.edits: list[Edit] = []
        self.responses: list[ResponsePost] = []
        self.refused: Counter[str] = Counter()
        self.refused_posts: Counter[str] = Counter()
        self.refused_responses: Counter[str] = Counter()
        self._limits = limits
        self._triggers: dict[str, tuple[str, float]] = {}  # trigger_id -> (user, issued at)
        self._responses: dict[str, _ResponseUrl] = {}  # response_url id -> what it answers for
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._rates: dict[str, tuple[float, bool, int]] = {}  # method -> (calls per second, per channel, burst)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._downloads: list[str] = []
        self.sent_events: list[dict[str, Any]] = []  # every event callback sent to the bot, oldest first
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.delete": self._delete,
            "chat.getPermalink": self._permalink,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.lookupByEmail": self._lookup_by_email,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.replies": self._replies,
            "conversations.history": self._history,
            "conversations.open": self._conversations_open,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.info": self._files_info,
        }

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self, port: int = 0) -> SlackStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval keeps stop() quick (tests start and stop a stand-in each).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="slack-standin", daemon=True)
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

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """The value for `WebClient(base_url=...)` / SLACK_API_URL."""
        return f"{self.base_url}/api/"

    # ---- seeding and fault injection ----------------------------------------------------------------

    def add_user(self, id: str, email: str, name: str, real_name: str = "", *, is_admin: bool = False) -> User:
        with self._lock:
            self.users[id] = User(id, email, name, real_name, is_admin)
            return self.users[id]

    def add_channel(self, id: str, name: str, *, is_private: bool = False) -> Channel:
        with self._lock:
            self.channels[id] = Channel(id, name, is_private=is_private)
            return self.channels[id]

    def install(self, team_id: str, name: str) -> str:
        """Team `team_id` has the app installed (as by a link): its bot token, the same on a re-install (a new
        one when its tokens rotate)."""
        with self._lock:
            self.team_names[team_id] = name
            if team_id == self.team_id:
                return self.token
            token = next((t for t, team in self.installed.items() if team == team_id), None)
            if token is None or team_id in self.rotating:
                token = self._new_token(team_id)
            return token

    def _new_token(self, team_id: str) -> str:
        prefix = "xoxe.xoxb" if team_id in self.rotating else "xoxb"
        token = f"{prefix}-{team_id.lower()}-{secrets.token_hex(12)}"
        self.installed[token] = team_id
        return token

    def approve(self, authorize_url: str, team_id: str, name: str, *, installer: str = "U0ADMIN") -> dict[str, str]:
        """An admin of team `team_id` approves the install Slack's authorize URL asks for: the query Slack sends
        back to the app's redirect URL (`code`, `state`). The code works once, for this app only."""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url).query))
        if query.get("client_id") != self.client_id:
            raise ValueError("authorize URL of another app")
        code = f"{next(self._ids)}.{secrets.token_hex(8)}"
        with self._lock:
            self.team_names[team_id] = name
            self._codes[code] = (team_id, installer, query.get("scope", ""))
        return {"code": code, "state": query.get("state", "")}

    def token_of(self, team_id: str) -> str | None:
        """The bot token team `team_id` has, None when the app is not installed there."""
        with self._lock:
            if team_id == self.team_id:
                return self.token
            return next((t for t, team in self.installed.items() if team == team_id), None)

    def calls_of(self, team_id: str, method: str | None = None) -> list[Call]:
        """The calls made with team `team_id`'s token (of `method` only, when given)."""
        with self._lock:
            return [c for c in self.calls if c.team == team_id and method in (None, c.method)]

    def fail(self, method: str, *, times: int = 1, status: int = 500) -> None:
        """The next `times` calls of `method` answer HTTP `status` (5xx: Slack is having trouble)."""
        with self._lock:
            self._faults[method].append(_Fault(times, status=status))

    def ratelimit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer 429 `ratelimited` with `Retry-After`."""
        with self._lock:
            self._faults[method].append(_Fault(times, status=429, retry_after=retry_after))

    def slow(self, method: str, seconds: float, *, times: int = 1, after_answer: bool = False) -> None:
        """The next `times` calls of `method` answer after `seconds` (to trigger client timeouts);
        `after_answer`: the call takes effect at once (a message is posted) and only its answer is late."""
        with self._lock:
            self._faults[method].append(_Fault(times, status=200, delay=seconds, after_answer=after_answer))

    def rate(self, method: str, per_second: float, *, per_channel: bool = False, burst: int = 1) -> None:
        """Enforce a steady rate on `method` (per channel, like chat.postMessage's 1/s), with 429s past it;
        `burst` calls may come at once (1: none), as Slack tolerates short bursts; on top of `limits` if any."""
        with self._lock:
            self._rates[method] = (per_second, per_channel, burst)
            self._buckets = {key: b for key, b in self._buckets.items() if key[0] != f"rate:{method}"}

    @property
    def limits(self) -> Limits | None:
        return self._limits

    @limits.setter
    def limits(self, limits: Limits | None) -> None:
        with self._lock:
            self._limits = limits
            self._buckets = {key: b for key, b in self._buckets.items() if key[0].startswith("rate:")}

    # ---- reading the state -------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, oldest first."""
        with self._lock:
            return [m for m in self.messages[channel] if m.thread_ts in (None, m.ts)]

    def direct_messages(self, user: str) -> list[Message]:
        """What was posted in the app's direct message with `user` (by the app, or the files he shared there),
        oldest first (none yet: empty)."""
        with self._lock:
            im = next((c for c in self.channels.values() if c.is_im and c.user == user), None)
            return list(self.messages[im.id]) if im else []

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the message `ts`, oldest first (the parent excluded)."""
        with self._lock:
            return [m for m in self.messages[channel] if m.thread_ts == ts and m.ts != ts]

    def message(self, channel: str, ts: str) -> Message:
        with self._lock:
            return self._find(channel, ts)

    def ephemerals_for(self, user: str) -> list[Ephemeral]:
        with self._lock:
            return [e for e in self.ephemerals if e.user == user]

    def open_modal(self, user: str) -> View | None:
        """The modal on top of the user's stack, if any."""
        with self._lock:
            stack = self.modal_stacks.get(user)
            return self.views[stack[-1]] if stack else None

    def home(self, user: str) -> View | None:
        with self._lock:
            view_id = self.homes.get(user)
            return self.views[view_id] if view_id else None

    def wait_for(self, condition: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Block until `condition()` is truthy after some API call (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := condition()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("condition not met on the Slack stand-in")
                self._changed.wait(remaining)
            return result

    # ---- playing Slack towards the bot -------------------------------------------------------------

    def new_trigger(self, user: str) -> str:
        with self._lock:
            trigger_id = f"{next(self._ids)}.{int(time.time())}.{hashlib.sha1(user.encode()).hexdigest()[:12]}"
            self._triggers[trigger_id] = (user, self.clock())
            return trigger_id

    def click(self, user: str, target: Message | Ephemeral | View, action_id: str, value: str | None = None, *,
              team: str | None = None) -> BotReply:
        """Press the element `action_id` of a message, ephemeral message or view, as `user` (of `team`).

        `value` replaces a button's value (to forge one) or picks a select's option / user / date.
        """
        return self.send_interaction(self.block_actions(user, target, action_id, value, team=team))

    def block_actions(self, user: str, target: Message | Ephemeral | View, action_id: str,
                      value: str | None = None, *, team: str | None = None) -> dict[str, Any]:
        """The `block_actions` payload Slack would send for that click (see `click`)."""
        team = team or self.team_id
        with self._lock:
            blocks = target.content.get("blocks", []) if isinstance(target, View) else target.blocks
            block_id, element = _find_element(blocks, action_id)
            payload = self._interaction_base(user, "block_actions", team)
            payload["actions"] = [_action_payload(element, block_id, value)]
            if isinstance(target, View):
                payload["container"] = {"type": "view", "view_id": target.id}
                payload["view"] = target.as_slack(team, self.app_id)
            else:
                ephemeral = isinstance(target, Ephemeral)
                payload["container"] = {
                    "type": "message",
                    "message_ts": target.ts,
                    "channel_id": target.channel,
                    "is_ephemeral": ephemeral,
                    **({"thread_ts": target.thread_ts} if target.thread_ts else {}),
                }
                payload["channel"] = {"id": target.channel, "name": self._channel_name(target.channel)}
                payload["message"] = {"type": "message", "ts": target.ts, "text": target.text, "blocks": blocks}
                payload["response_url"] = self._response_url(target.channel, None if ephemeral else target.ts, user)
            return payload

    def submit_view(self, user: str, view_id: str, values: dict[str, dict[str, Any]]) -> BotReply:
        """Submit a modal with `values` as {block_id: {action_id: value}}, then apply the bot's response_action."""
        with self._lock:
            view = self.views[view_id]
            slack_view = view.as_slack(self.team_id, self.app_id)
            slack_view["state"] = {"values": _state_values(view.content.get("blocks", []), values)}
            payload = self._interaction_base(user, "view_submission", self.team_id)
            payload["view"] = slack_view
        reply = self.send_interaction(payload)
        if reply.status == 200:
            self._apply_response_action(user, view_id, reply.json())
        return reply

    def close_view(self, user: str, view_id: str) -> BotReply:
        with self._lock:
            payload = self._interaction_base(user, "view_closed", self.team_id)
            payload["view"] = self.views[view_id].as_slack(self.team_id, self.app_id)
            payload["is_cleared"] = False
            self._close_modals(user)
        return self.send_interaction(payload)

    def slash_command(self, user: str, command: str, text: str = "", channel: str | None = None, *,
                      team: str | None = None) -> BotReply:
        with self._lock:
            channel = channel or self._im_with(user).id
            form = {
                "token": self.verification_token,
                "team_id": team or self.team_id,
                "team_domain": "standin",
                "channel_id": channel,
                "channel_name": self._channel_name(channel),
                "user_id": user,
                "user_name": self.users[user].name if user in self.users else user,
                "command": command,
                "text": text,
                "api_app_id": self.app_id,
                "is_enterprise_install": "false",
                "response_url": self._response_url(channel, None, user),
                "trigger_id": self.new_trigger(user),
            }
        return self.send(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")

    def app_home_opened(self, user: str, *, retry_num: int | None = None, event_id: str | None = None,
                        team: str | None = None) -> BotReply:
        with self._lock:
            home = self.home(user)
            event: dict[str, Any] = {
                "type": "app_home_opened",
                "user": user,
                "channel": self._im_with(user).id,
                "tab": "home",
                "event_ts": self._next_ts(),
            }
            if home:
                event["view"] = home.as_slack(team or self.team_id, self.app_id)
        return self.send_event(event, retry_num=retry_num, event_id=event_id, team=team)

    def share_file(self, user: str, name: str, content: bytes, *, filetype: str | None = None,
                   retry_num: int | None = None, event_id: str | None = None) -> BotReply:
        """`user` shares a file in his direct message with the app (its Messages tab), as Slack tells the app:
        a `message` event of subtype `file_share` (`message.im`), whose file object may be partial
        (`file_access: check_file_info`): the app reads the rest with `files.info`."""
        with self._lock:
            file_id = f"F{next(self._ids):08d}"
            kind = filetype or _filetype(name)
            self.files[file_id] = {"id": file_id, "name": name, "title": name, "filetype": kind,
                                   "content": content, "user": user, "length": len(content)}
            im = self._im_with(user)
            message = Message(im.id, self._next_ts(), "", [], user, files=[{"id": file_id}])
            self.messages[im.id].append(message)
            event = {"type": "message", "subtype": "file_share", "channel": im.id, "channel_type": "im",
                     "user": user, "text": "", "ts": message.ts, "event_ts": message.ts, "upload": True,
                     "files": [{"id": file_id, "mode": "file_access", "file_access": "check_file_info"}]}
        return self.send_event(event, retry_num=retry_num, event_id=event_id)

    def downloads(self) -> list[str]:
        """The file ids downloaded with the bot's token (`url_private_download`), in order."""
        with self._lock:
            return list(self._downloads)

    def send_event(self, event: dict[str, Any], *, retry_num: int | None = None, event_id: str | None = None,
                   team: str | None = None) -> BotReply:
        team = team or self.team_id
        body = {
            "token": self.verification_token,
            "team_id": team,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": self.bot_user_id, "is_bot": True}],
        }
        with self._lock:
            self.sent_events.append(body)
        return self.retry_event(body, retry_num) if retry_num else self.send(json.dumps(body), "application/json")

    def retry_event(self, body: dict[str, Any], retry_num: int = 1) -> BotReply:
        """Send an event callback (one of `sent_events`) again, as Slack retries one it saw no answer to."""
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.send(json.dumps(body), "application/json", headers=headers)

    def send_interaction(self, payload: dict[str, Any], **signing: Any) -> BotReply:
        """POST an interaction payload as Slack does (form field `payload`); `signing` as for `send`."""
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return self.send(body, "application/x-www-form-urlencoded", **signing)

    def send(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signing_secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> BotReply:
        """POST `body` to the bot signed as Slack does; `timestamp`/`signing_secret` let a test forge one."""
        if self.bot_url is None:
            raise RuntimeError("set bot_url before sending to the bot")
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(signing_secret or self.signing_secret).generate_signature(timestamp=stamp, body=body)
        request = urllib.request.Request(
            self.bot_url,
            data=body.encode(),
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature or "",
                **(headers or {}),
            },
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return BotReply(response.status, response.read().decode(), time.monotonic() - started)
        except urllib.error.HTTPError as error:
            return BotReply(error.code, error.read().decode(), time.monotonic() - started)

    # ---- HTTP entry points (called by the request handler) ------------------------------------------

    def handle_api(self, method: str, args: dict[str, Any], auth: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        with self._lock:
            fault = self._take_fault(method)
            call = Call(method, args, time.monotonic())
            self.calls.append(call)
        if fault and fault.delay and not fault.after_answer:
            time.sleep(fault.delay)
        with self._changed:
            status, body, headers = self._answer(call, auth, fault)
            if status == 200 and self.scopes is not None and body.get("error") not in ("not_authed", "invalid_auth"):
                headers = {**headers, "X-OAuth-Scopes": ",".join(sorted(self.scopes))}
            call.status, call.response = status, body
            self._changed.notify_all()
        if fault and fault.delay and fault.after_answer:
            time.sleep(fault.delay)
        return status, body, headers

    def _answer(self, call: Call, auth: str | None, fault: _Fault | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        method, args = call.method, call.args
        if fault and fault.status == 429:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
        if fault and fault.status >= 500:
            return fault.status, {"ok": False, "error": "internal_error"}, {}
        if method == "oauth.v2.access":  # the app's credentials, not a token
            try:
                return 200, {"ok": True, **self._oauth_access(args, auth)}, {}
            except SlackError as error:
                return 200, {"ok": False, "error": error.error}, {}
        token = (auth or "").removeprefix("Bearer ").strip() or args.get("token")
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        call.token = token
        call.team = self.team_id if token == self.token else self.installed.get(token)
        if call.team is None:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        self._serving = call
        if (refused_by := self._take_tokens(method, args)) is not None:
            call.refused_by, wait = refused_by
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, math.ceil(wait)))}
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            return 200, {"ok": True, **handler(args)}, {}
        except SlackError as error:
            return 200, {"ok": False, "error": error.error, **error.extra}, {}

    def handle_upload(self, file_id: str, data: bytes) -> bool:
        with self._changed:
            if file_id not in self.files:
                return False
            self.files[file_id]["content"] = data
            self._changed.notify_all()
            return True

    def handle_download(self, file_id: str, auth: str | None) -> tuple[int, bytes, str]:
        """GET of a file's `url_private_download`: its bytes with the bot's token in an `Authorization: Bearer`
        header; without it Slack answers 200 with its sign-in page (HTML), not an error, so does this."""
        with self._lock:
            stored = self.files.get(file_id)
            if stored is None:
                return 404, b"Not Found", "text/plain"
            if (auth or "").removeprefix("Bearer ").strip() != self.token or stored.get("content") is None:
                return 200, b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>", "text/html; charset=utf-8"
            self._downloads.append(file_id)
            return 200, stored["content"], "application/octet-stream"

    def handle_response_url(self, response_id: str, body: dict[str, Any]) -> tuple[int, str]:
        """What Bolt's `respond()` / slack_sdk's `WebhookClient` posts: replace or delete the original, or add
        an ephemeral / a message. Answers (HTTP status, body) as Slack does: 200 `ok`; 404 `expired_url` for
        an unknown URL or one older than 30 minutes, `used_url` past its fifth use (Slack documents the 5
        uses within 30 minutes; the stand-in counts refused posts as uses too, as it cannot tell better)."""
        with self._changed:
            response = self._responses.get(response_id)
            if response is None:
                self.responses.append(ResponsePost(response_id, body, False, time.monotonic()))
                return 404, "expired_url"
            response.uses += 1
            refusal = ("expired_url" if self.clock() - response.issued > RESPONSE_URL_LIFETIME
                       else "used_url" if response.uses > RESPONSE_URL_USES else None)
            self.responses.append(ResponsePost(response_id, body, refusal is None, time.monotonic()))
            if refusal:
                self.refused_responses[refusal] += 1
                return 404, refusal
            channel, ts, user = response.channel, response.ts, response.user
            if body.get("delete_original") and ts:
                self.messages[channel] = [m for m in self.messages[channel] if m.ts != ts]
            elif body.get("replace_original") and ts:
                original = self._find(channel, ts)
                original.text, original.blocks, original.edited = body.get("text", ""), body.get("blocks", []), True
                self.edits.append(Edit(channel, ts, time.monotonic(), "response_url",
                                       content_digest(original.text, original.blocks)))
            elif body.get("response_type") == "in_channel":
                self.messages[channel].append(
                    Message(channel, self._next_ts(), body.get("text", ""), body.get("blocks", []), self.bot_user_id)
                )
            else:
                self.ephemerals.append(
                    Ephemeral(channel, user, self._next_ts(), body.get("text", ""), body.get("blocks", []))
                )
            self._changed.notify_all()
            return 200, "ok"

    # ---- Web API methods ---------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        team = self._team()
        return {
            "url": f"{self.base_url}/",
            "team": self.team_names.get(team, team),
            "user": "m3bot",
            "team_id": team,
            "user_id": self.bot_user_id,
            "bot_id": "B0STANDIN" if team == self.team_id else f"B0{team}",
            "is_enterprise_install": False,
        }

    def _oauth_access(self, args: dict[str, Any], auth: str | None) -> dict[str, Any]:
        """oauth.v2.access: the app's credentials (HTTP Basic, or the form's fields) and a code `approve` gave,
        for the team's bot token, as Slack documents the answer."""
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        if (auth or "").startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        if client_id != self.client_id:
            raise SlackError("invalid_client_id")
        if client_secret != self.client_secret:
            raise SlackError("bad_client_secret")
        if args.get("grant_type") == "refresh_token":  # token rotation: a new token for a refresh token, once
            team_id = self._refresh.pop(args.get("refresh_token") or "", None)
            if team_id is None:
                raise SlackError("invalid_refresh_token")
            return {"access_token": self._new_token(team_id), "token_type": "bot",
                    "team": {"id": team_id, "name": self.team_names[team_id]}, "enterprise": None,
                    "is_enterprise_install": False, **self._rotation(team_id)}
        found = self._codes.pop(args.get("code") or "", None)
        if found is None:
            raise SlackError("invalid_code")
        team_id, installer, scopes = found
        return {
            "access_token": self.install(team_id, self.team_names[team_id]),
            "token_type": "bot",
            "scope": scopes,
            "bot_user_id": self.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": team_id, "name": self.team_names[team_id]},
            "enterprise": None,
            "authed_user": {"id": installer},
            "is_enterprise_install": False,
            **self._rotation(team_id),
        }

    def _rotation(self, team_id: str) -> dict[str, Any]:
        """A rotating token's expiry and refresh token (nothing for a team whose tokens do not rotate)."""
        if team_id not in self.rotating:
            return {}
        refresh = f"xoxe-1-{secrets.token_hex(12)}"
        self._refresh[refresh] = team_id
        return {"expires_in": self.rotating[team_id], "refresh_token": refresh}

    def _team(self) -> str:
        """The team of the call being answered: its token's."""
        return self._serving.team if self._serving is not None and self._serving.team else self.team_id

    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        text, blocks = _checked_content(args, MESSAGE_BLOCKS)
        thread_ts = args.get("thread_ts") or None
        if thread_ts:
            self._find(channel.id, thread_ts, error="thread_not_found")
        message = Message(channel.id, self._next_ts(), text, blocks, self.bot_user_id, thread_ts,
                          metadata=_metadata_arg(args))
        self.messages[channel.id].append(message)
        return {"channel": channel.id, "ts": message.ts, "message": message.as_slack()}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._find(channel.id, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        message.text, message.blocks = _checked_content(args, MESSAGE_BLOCKS)
        message.metadata = _metadata_arg(args) or message.metadata
        message.edited = True
        self.edits.append(Edit(channel.id, message.ts, time.monotonic(), "chat.update",
                               content_digest(message.text, message.blocks)))
        return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": message.as_slack()}

    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = args.get("user")
        if user not in self.users:
            raise SlackError("user_not_found")
        text, blocks = _checked_content(args, MESSAGE_BLOCKS)
        ephemeral = Ephemeral(channel.id, user, self._next_ts(), text, blocks, args.get("thread_ts") or None)
        self.ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.ts}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._find(channel.id, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self.messages[channel.id].remove(message)
        return {"channel": channel.id, "ts": message.ts}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._find(channel.id, args.get("message_ts"))
        return {"channel": channel.id, "permalink": f"{self.base_url}/archives/{channel.id}/p{message.ts.replace('.', '')}"}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._use_trigger(args.get("trigger_id"))
        view = self._new_view(user, _json_arg(args, "view"), previous=None)
        self._close_modals(user)
        self.modal_stacks[user] = [view.id]
        return {"view": view.as_slack(self.team_id, self.app_id)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._use_trigger(args.get("trigger_id"))
        stack = self.modal_stacks[user]
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= 3:
            raise SlackError("push_limit_reached")
        view = self._new_view(user, _json_arg(args, "view"), previous=stack[-1])
        stack.append(view.id)
        return {"view": view.as_slack(self.team_id, self.app_id)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next((v.id for v in self.views.values() if v.external_id == args["external_id"]), None)
        view = self.views.get(view_id or "")
        if view is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != view.hash:
            raise SlackError("hash_conflict")
        content = _json_arg(args, "view")
        _check_view(content)
        view.content, view.hash = content, self._next_hash()
        return {"view": view.as_slack(self.team_id, self.app_id)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user_id")
        if user not in self.users:
            raise SlackError("user_not_found")
        content = _json_arg(args, "view")
        if content.get("type") != "home":
            raise SlackError("invalid_arguments")
        current = self.homes.get(user)
        if current and args.get("hash") and args["hash"] != self.views[current].hash:
            raise SlackError("hash_conflict")
        if current:
            _check_view(content)
            view = self.views[current]
            view.content, view.hash = content, self._next_hash()
        else:
            view = self._new_view(user, content, previous=None)
            self.homes[user] = view.id
        return {"view": view.as_slack(self.team_id, self.app_id)}

    def _lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = (args.get("email") or "").lower()
        user = next((u for u in self.users.values() if u.email.lower() == email), None)
        if user is None:
            raise SlackError("users_not_found")
        return {"user": user.as_slack(self._team())}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user") or "")
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.as_slack(self._team())}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        self._need_scope(channel, "read")
        return {"channel": {"id": channel.id, "name": channel.name, "is_channel": not channel.is_im,
                            "is_im": channel.is_im, "is_private": channel.is_private or channel.is_im,
                            "is_member": channel.is_member}}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in (args.get("users") or "").split(",") if u]
        if len(users) != 1 or users[0] not in self.users:
            raise SlackError("user_not_found")
        return {"channel": {"id": self._im_with(users[0]).id}}

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        self._need_scope(channel, "history")
        parent = self._find(channel.id, args.get("ts"), error="thread_not_found")
        replies = self.thread(channel.id, parent.ts)
        meta = _flag(args.get("include_all_metadata"))
        return {"messages": [m.as_slack(with_metadata=meta) for m in [parent, *replies]], "has_more": False}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first, after `oldest` if given (one page: the stand-in keeps few)."""
        channel = self._channel(args.get("channel"))
        self._need_scope(channel, "history")
        oldest = float(args.get("oldest") or 0)
        meta = _flag(args.get("include_all_metadata"))
        shown = [m for m in self.channel_messages(channel.id) if float(m.ts) > oldest]
        return {"messages": [m.as_slack(with_metadata=meta) for m in reversed(shown)], "has_more": False}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length") or "").isdigit():
            raise SlackError("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = {"id": file_id, "name": args["filename"], "length": int(args["length"]), "content": None}
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = _json_arg(args, "files")
        done = []
        for item in files:
            stored = self.files.get(item.get("id", ""))
            if stored is None or stored["content"] is None:
                raise SlackError("file_not_found")
            stored["title"] = item.get("title") or stored["name"]
            done.append({"id": stored["id"], "name": stored["name"], "title": stored["title"]})
        if args.get("channel_id"):
            channel = self._channel(args["channel_id"])
            thread_ts = args.get("thread_ts") or None
            message = Message(channel.id, self._next_ts(), args.get("initial_comment") or "", [], self.bot_user_id, thread_ts)
            message.files = done
            self.messages[channel.id].append(message)
        return {"files": done}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.scopes is not None and "files:read" not in self.scopes:
            raise SlackError("missing_scope", needed="files:read", provided=",".join(sorted(self.scopes)))
        stored = self.files.get(args.get("file") or "")
        if stored is None:
            raise SlackError("file_not_found")
        name = stored["name"]
        url = f"{self.base_url}/files-pri/{self.team_id}-{stored['id']}/download/{urllib.parse.quote(name)}"
        kind = stored.get("filetype") or _filetype(name)
        file = {"id": stored["id"], "name": name, "title": stored.get("title") or name, "filetype": kind,
                "mimetype": "text/csv" if kind == "csv" else "application/octet-stream",
                "size": stored.get("length", 0), "user": stored.get("user", self.bot_user_id), "mode": "hosted",
                "url_private": url, "url_private_download": url}
        return {"file": file, "comments": [], "response_metadata": {"next_cursor": ""}}

    # ---- internals ---------------------------------------------------------------------------------

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    def _take_tokens(self, method: str, args: dict[str, Any]) -> tuple[str, float] | None:
        """A token from every bucket the call needs (None), or, when one is empty, which limit refuses and
        how long until it would not (then no token is taken, and the refusal is counted)."""
        channel = str(args.get("channel") or "")
        wanted = list(self._limits.buckets(method, channel)) if self._limits else []
        if method in self._rates:
            per_second, per_channel, burst = self._rates[method]
            wanted.append(((f"rate:{method}", channel if per_channel else ""), "method", per_second, burst))
        if not wanted:
            return None
        now = self.clock()
        waits = []
        for key, limit, per_second, burst in wanted:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(per_second, burst, burst, now)
            waits.append((bucket.wait(now), limit, bucket))
        wait, limit, _ = max(waits, key=lambda w: w[0])
        if wait > 0:
            self.refused[method] += 1
            if method == POSTS:
                self.refused_posts[channel] += 1
            return limit, wait
        for _, _, bucket in waits:
            bucket.tokens -= 1
        return None

    def _channel(self, channel_id: str | None) -> Channel:
        if channel_id in self.users:  # posting to a user ID lands in the app's DM with him
            return self._im_with(channel_id)
        channel = self.channels.get(channel_id or "")
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _need_scope(self, channel: Channel, access: str) -> None:
        """Slack's `missing_scope` when the token lacks the scope this kind of channel needs for `access`."""
        family = "im" if channel.is_im else "groups" if channel.is_private else "channels"
        needed = f"{family}:{access}"
        if self.scopes is not None and needed not in self.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))

    def _channel_name(self, channel_id: str) -> str:
        channel = self.channels.get(channel_id)
        return "directmessage" if channel is None or channel.is_im else channel.name

    def _im_with(self, user: str) -> Channel:
        im = next((c for c in self.channels.values() if c.is_im and c.user == user), None)
        if im is None:
            im = Channel(f"D{next(self._ids):08d}", "directmessage", is_im=True, user=user)
            self.channels[im.id] = im
        return im

    def _find(self, channel: str, ts: str | None, *, error: str = "message_not_found") -> Message:
        message = next((m for m in self.messages.get(channel, []) if m.ts == ts), None)
        if message is None:
            raise SlackError(error)
        return message

    def _next_ts(self) -> str:
        # Slack's ts: seconds.microseconds, unique per channel and increasing; a counter keeps them unique.
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    def _next_hash(self) -> str:
        return f"{int(time.time())}.{next(self._ids):08x}"

    def _use_trigger(self, trigger_id: str | None) -> str:
        issued = self._triggers.pop(trigger_id or "", None)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        user, at = issued
        if self.clock() - at > TRIGGER_LIFETIME:
            raise SlackError("expired_trigger_id")
        return user

    def _new_view(self, user: str, content: dict[str, Any], previous: str | None) -> View:
        _check_view(content)
        view_id = f"V{next(self._ids):08d}"
        root = self.modal_stacks[user][0] if previous else view_id
        view = View(view_id, user, content.get("type", "modal"), content, self._next_hash(), root, previous,
                    content.get("external_id"))
        self.views[view_id] = view
        return view

    def _close_modals(self, user: str) -> None:
        self.modal_stacks[user] = []

    def _response_url(self, channel: str, ts: str | None, user: str) -> str:
        response_id = hashlib.sha1(f"{channel}{ts}{user}{next(self._ids)}".encode()).hexdigest()
        self._responses[response_id] = _ResponseUrl(channel, ts, user, self.clock())
        return f"{self.base_url}/response/{response_id}"

    def _interaction_base(self, user: str, kind: str, team: str) -> dict[str, Any]:
        known = self.users.get(user)
        return {
            "type": kind,
            "user": {"id": user, "username": known.name if known else user, "name": known.name if known else user,
                     "team_id": team},
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "team": {"id": team, "domain": "standin"},
            "enterprise": None,
            "is_enterprise_install": False,
            "trigger_id": self.new_trigger(user),
        }

    def _apply_response_action(self, user: str, view_id: str, answer: Any) -> None:
        with self._changed:
            action = answer.get("response_action") if isinstance(answer, dict) else None
            stack = self.modal_stacks[user]
            if action == "update":
                _check_view(answer["view"])
                self.views[view_id].content, self.views[view_id].hash = answer["view"], self._next_hash()
            elif action == "push" and len(stack) < 3:
                view = self._new_view(user, answer["view"], previous=view_id)
                stack.append(view.id)
            elif action == "clear":
                self._close_modals(user)
            elif action != "errors" and view_id in stack:
                stack.remove(view_id)
            self._changed.notify_all()


def _handler_for(standin: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # the tests read calls, not access logs
            pass

        def do_GET(self) -> None:
            if not self._host_ok():
                return
            path, _, query = self.path.partition("?")
            if path.startswith("/files-pri/"):
                file_id = path.removeprefix("/files-pri/").split("/", 1)[0].rpartition("-")[2]
                status, data, content_type = standin.handle_download(file_id, self.headers.get("Authorization"))
                self._reply_bytes(status, data, content_type)
                return
            self._api(path, dict(urllib.parse.parse_qsl(query)))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self._host_ok():
                return
            path = self.path.partition("?")[0]
            content_type = (self.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
            if path.startswith("/upload/"):  # Slack takes the file's bytes raw or as a multipart form
                self._reply(200 if standin.handle_upload(path.removeprefix("/upload/"), raw) else 404, "OK")
            elif path.startswith("/response/") and content_type == "application/json":
                self._reply(*standin.handle_response_url(path.removeprefix("/response/"), json.loads(raw or b"{}")))
            elif path.startswith("/api/") and content_type == "application/json":
                self._api(path, json.loads(raw or b"{}"))
            elif path.startswith("/api/") and content_type == "application/x-www-form-urlencoded":
                self._api(path, dict(urllib.parse.parse_qsl(raw.decode())))
            elif path.startswith(("/api/", "/response/")):
                self._reply(415, "unsupported_media_type")
            else:
                self._reply(404, "Not Found")

        def _host_ok(self) -> bool:
            if host_allowed(self.headers.get("Host"), self.server.server_address[1]):
                return True
            self._reply(403, "wrong_host")
            return False

        def _api(self, path: str, args: dict[str, Any]) -> None:
            if not path.startswith("/api/"):
                self._reply(404, "Not Found")
                return
            status, body, headers = standin.handle_api(path.removeprefix("/api/"), args, self.headers.get("Authorization"))
            self._reply(status, json.dumps(body), "application/json; charset=utf-8", headers)

        def _reply(self, status: int, body: str, content_type: str = "text/plain", headers: dict[str, str] | None = None) -> None:
            self._reply_bytes(status, body.encode(), content_type, headers)

        def _reply_bytes(self, status: int, data: bytes, content_type: str,
                         headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _filetype(name: str) -> str:
    """Slack's `filetype` as it guesses it from the name's extension (the few the stand-in meets)."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return extension if extension in ("csv", "json", "png", "pdf", "txt") else "binary"


def _json_arg(args: dict[str, Any], name: str) -> Any:
    """Form bodies carry structured arguments as JSON strings; JSON bodies carry them as is."""
    value = args.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as error:
            raise SlackError("invalid_arguments") from error
    if value is None:
        raise SlackError("invalid_arguments")
    return value


def _metadata_arg(args: dict[str, Any]) -> dict[str, Any] | None:
    return _json_arg(args, "metadata") if args.get("metadata") else None


def _flag(value: Any) -> bool:
    return value in (True, "true", "1", 1)


def _checked_content(args: dict[str, Any], max_blocks: int) -> tuple[str, list[dict[str, Any]]]:
    """The message's text and blocks, refused as Slack refuses them."""
    text = args.get("text") or ""
    blocks = _json_arg(args, "blocks") if args.get("blocks") else []
    if not text and not blocks:
        raise SlackError("no_text")
    if len(text) > MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    _check_blocks(blocks, max_blocks)
    return text, blocks


def _check_blocks(blocks: Any, max_blocks: int) -> None:
    if not isinstance(blocks, list) or len(blocks) > max_blocks:
        raise SlackError("invalid_blocks", errors=[f"must be a list of at most {max_blocks} blocks"])
    for index, block in enumerate(blocks):
        try:
            parsed = Block.parse(block) if isinstance(block, dict) else None
            if parsed is None:
                raise SlackObjectFormationError("unknown block type")
            parsed.to_dict()  # slack_sdk validates Slack's documented limits while serialising
        except (SlackObjectFormationError, TypeError) as error:
            raise SlackError("invalid_blocks", errors=[f"[{index}] {error}"]) from error


def _check_view(content: Any) -> None:
    if not isinstance(content, dict) or content.get("type") not in ("modal", "home"):
        raise SlackError("invalid_arguments")
    _check_blocks(content.get("blocks", []), VIEW_BLOCKS)
    try:
        ViewModel(**content).to_dict()
    except (SlackObjectFormationError, TypeError) as error:
        raise SlackError("invalid_arguments", response_metadata={"messages": [str(error)]}) from error
    if len(json.dumps(content)) > 250_000:
        raise SlackError("view_too_large")


def _elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in blocks:
        block_id = block.get("block_id", "")
        if block["type"] == "actions":
            found += [(block_id, e) for e in block.get("elements", [])]
        elif block["type"] == "section" and "accessory" in block:
            found.append((block_id, block["accessory"]))
        elif block["type"] == "input":
            found.append((block_id, block["element"]))
    return found


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]]:
    for block_id, element in _elements(blocks):
        if element.get("action_id") == action_id:
            return block_id, element
    raise KeyError(f"no element with action_id {action_id!r}")


def _option(element: dict[str, Any], value: str) -> dict[str, Any]:
    options = element.get("options") or [o for g in element.get("option_groups", []) for o in g["options"]]
    option = next((o for o in options if o["value"] == value), None)
    if option is None:
        raise KeyError(f"no option {value!r}")
    return option


def _selected(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The fields Slack puts in an action or a view state for an element and the value chosen."""
    kind = element["type"]
    if kind in ("static_select", "radio_buttons", "external_select"):
        return {"selected_option": _option(element, value) if value is not None else None}
    if kind in ("multi_static_select", "checkboxes"):
        return {"selected_options": [_option(element, v) for v in value or []]}
    if kind == "users_select":
        return {"selected_user": value}
    if kind == "multi_users_select":
        return {"selected_users": list(value or [])}
    if kind == "conversations_select":
        return {"selected_conversation": value}
    if kind == "channels_select":
        return {"selected_channel": value}
    if kind == "datepicker":
        return {"selected_date": value}
    if kind == "timepicker":
        return {"selected_time": value}
    if kind == "datetimepicker":
        return {"selected_date_time": value}
    return {"value": value}


def _action_payload(element: dict[str, Any], block_id: str, value: str | None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": element["action_id"],
        "block_id": block_id,
        "type": element["type"],
        "action_ts": f"{time.time():.6f}",
    }
    if element["type"] in ("button", "workflow_button"):
        action["text"] = element["text"]
        action["value"] = element.get("value") if value is None else value
    elif element["type"] == "overflow":
        action["selected_option"] = _option(element, value)
    else:
        action.update(_selected(element, value))
    return action


def _state_values(blocks: list[dict[str, Any]], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, dict[str, Any]] = {}
    for block in blocks:
        if block["type"] != "input":
            continue
        element = block["element"]
        block_id = block.get("block_id") or element["action_id"]
        value = values.get(block_id, {}).get(element["action_id"], _initial(element))
        state[block_id] = {element["action_id"]: {"type": element["type"], **_selected(element, value)}}
    return state


def _initial(element: dict[str, Any]) -> Any:
    for key in ("initial_value", "initial_date", "initial_time", "initial_date_time", "initial_user", "initial_conversation",
                "initial_channel"):
        if key in element:
            return element[key]
    if "initial_option" in element:
        return element["initial_option"]["value"]
    if "initial_options" in element:
        return [o["value"] for o in element["initial_options"]]
    return None
