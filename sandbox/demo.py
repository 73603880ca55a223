"""`m3bot sandbox`: the whole product on one machine, without a Slack workspace (demonstration only).

One process runs the Slack stand-in, the real Bolt app served over HTTP and its outbox deliverer, on a fresh
SQLite file, plus the page that shows what a user would see in Slack (`sandbox.web`). Everything listens on
127.0.0.1. Fictitious clients (`demo_lagon.csv`) go through the real Lagon import, then the due cases are
opened as `m3bot open-due` opens them, so their cards and first steps appear within seconds.

The export's dates follow the sandbox's today, so the same clients are due whatever the day. Calls obey the
real French calling hours: outside them the page says so, and `--time` runs the whole process under a
moved clock (the `time-machine` package), e.g. `m3bot sandbox --time 2026-12-01T10:30`. The scheduler runs
too, on that clock: the page moves it forward (one hour, or the next business morning at the agency's
opening time) and the scheduler ticks at once, so a booked callback, an action's reminder and the morning
digest come within a minute. Demo only: the product itself never moves its clock, and a moved clock only
moves the time the legal calling hours are checked against. The stand-in applies Slack's rate limits at their defaults
(`sandbox.slack_api.Limits`) and gets fresh random secrets each run.
"""

from __future__ import annotations

import calendar
import csv
import errno
import io
import signal
import sys
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from bot.agents import match_agents
from bot.app import create_app, delivery_client, deps_of, web_client
from bot.notifier import SlackNotifier
from bot.outbox_delivery import OutboxDeliverer
from bot.rendering import agency_today
from bot.runner import EVENTS_PATH, serve_http, stop_http
from bot.views.text import moment
from config.pacing import PaceSettings
from config.settings import Settings
from flows.calling_hours import is_legal_call_time, next_legal_call_time
from flows.opening import m3_date
from sandbox.slack_api import Limits, SlackStandIn
from sandbox.web import CLOCK_MOVES, TIME_FORMAT, PageUser, SandboxPage
from scheduler.service import start_scheduler
from service.agency_hours import AgencyHours
from service.imports import ImportExport, import_export
from service.opening import OpenDue, Opened, open_due
from service.unit_of_work import Backend, UnitOfWork
from storage.db import make_engine, migrate
from storage.importer import ACTOR as IMPORT_ACTOR
from storage.importer import ImportReport
from storage.tables import utcnow
from storage.workspaces import resolve
from wording import t

DEMO_EXPORT = Path(__file__).with_name("demo_lagon.csv")
# The export reads as if taken on this day: each contract's M+3 date moves by as many days as today is after
# it (the first client is due that very day, the others a few days before, one only in twelve days).
EXPORT_DAY = date(2026, 12, 1)
CHANNEL = ("C0M3SUIVI", "m3-suivi")
USERS = (
    PageUser("U0CAMILLE", "camille.martin@agence-demo.fr", "Camille Martin", "agent"),
    PageUser("U0HUGO", "hugo.bernard@agence-demo.fr", "Hugo Bernard", "agent"),
    PageUser("U0SOPHIE", "sophie.laurent@agence-demo.fr", "Sophie Laurent", "lead"),
)
ACTOR = "m3bot sandbox"
DEMO_BURST = 20  # posts the channel takes at once: the demo's cards and their first steps


def dated_export(data: bytes, today: date, months: int = 3) -> bytes:
    """The demo export with its subscription dates moved so that each M+3 date keeps its distance to
    `today`, or falls at most 3 days earlier (month ends): no client due on the export's day is late today."""
    shift = today - EXPORT_DAY
    rows = list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter=";"))
    column = rows[0].index("date_souscription")
    for row in rows[1:]:
        subscribed = datetime.strptime(row[column], "%d/%m/%Y").date()
        row[column] = _months_before(m3_date(subscribed, months) + shift, months).strftime("%d/%m/%Y")
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _months_before(day: date, months: int) -> date:
    """The subscription day whose M+3 date is `day`, or the last one before it when `day` is past the end
    of a shorter month (31 May -> 28 February, whose M+3 is 28 May)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


class Sandbox:
    """The stand-in, the bot and the page over a SQLite file; `clock` (aware) moves the process's time."""

    def __init__(self, database: Path, *, port: int = 0, clock: datetime | None = None, export: Path = DEMO_EXPORT):
        self.database = database
        self.port = port
        self.clock = clock
        self.export = export
        # Slack's rate limits (but a channel burst that lets the demo's opening show at once: the deliverer
        # paces to the same burst), random secrets per run.
        self.slack = SlackStandIn(limits=Limits(channel_post_burst=DEMO_BURST))
        self.page: SandboxPage | None = None
        self.settings: Settings | None = None
        self.imported: ImportReport | None = None
        self.opened: Opened | None = None
        self._travel: Any = None
        self._coordinates: Any = None  # time-machine's handle on the moved clock
        self._clock_lock = threading.Lock()
        self._scheduler: Any = None
        self._engine: Any = None
        self._http: Any = None
        self._deliverer: Any = None

    def start(self) -> Sandbox:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.clock is not None:
            import time_machine  # a test tool: only a moved clock needs it

            self._travel = time_machine.travel(self.clock, tick=True)
            self._coordinates = self._travel.start()
        slack = self.slack.start()
        slack.add_channel(*CHANNEL)
        for user in USERS:
            slack.add_user(user.id, user.email, user.name, user.real_name)
        settings = self.settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{self.database}",
            slack_bot_token=slack.token,
            slack_signing_secret=slack.signing_secret,
            slack_app_token=None,
            slack_api_url=slack.api_url,
            m3_channel=CHANNEL[0],
            m3_leads=[u.id for u in USERS if u.role == "lead"],
        )
        # The page first: a port already taken stops the sandbox before any work.
        self.page = SandboxPage(slack, channel=CHANNEL[0], users=USERS, timezone=settings.agency_timezone,
                                clock_moved=self.clock is not None, move_clock=self.move_clock).start(self.port)
        engine = self._engine = make_engine(settings.database_url)
        migrate(engine)
        today = agency_today(settings)
        export = ImportExport(dated_export(self.export.read_bytes(), today, settings.m3_offset_months), self.export.name,
                              window_days=settings.case_window_days, m3_offset_months=settings.m3_offset_months,
                              caller_rule=settings.m3_caller)
        self.imported = import_export(export, lambda: UnitOfWork(engine, actor=IMPORT_ACTOR))
        match_agents(engine, resolve(engine, None), web_client(settings))
        # Slack's rates, but a burst that lets the demo's cards and first steps appear at once.
        deliverer = OutboxDeliverer(engine, delivery_client(settings), pace=PaceSettings(post_channel_burst=DEMO_BURST))
        app = create_app(settings, engine, deliverer=deliverer)
        self._http = serve_http(app, "127.0.0.1", 0, engine=engine)
        slack.bot_url = f"http://127.0.0.1:{self._http[0].effective_port}{EVENTS_PATH}"
        self._deliverer = deps_of(app).deliverer
        self._deliverer.start()
        self.opened = open_due(OpenDue(today, settings.catch_up_days),
                               UnitOfWork(Backend(engine, SlackNotifier(settings), settings), actor=ACTOR))
        # Last: its first tick finds the cases opened above, and today's morning digest if it is due.
        self._scheduler = start_scheduler(settings, engine, SlackNotifier(settings))

    def move_clock(self, move: str) -> datetime:
        """Move the demo clock forward ("hour": one hour; "morning": the next business day's opening time),
        then tick at once rather than after the scheduler's interval; returns the new time."""
        assert self.settings is not None and self._scheduler is not None, "start() the sandbox first"
        if move not in CLOCK_MOVES:
            raise ValueError(f"unknown clock move {move!r}")
        import time_machine  # a test tool: only a moved clock needs it

        settings = self.settings
        with self._clock_lock:
            now = utcnow()
            if move == "hour":
                target = now + timedelta(hours=1)
            else:
                hours = AgencyHours.parse(settings.agency_timezone, settings.agency_opens, settings.agency_closes)
                target = next_business_morning(hours, now)
            if self._coordinates is None:
                self._travel = time_machine.travel(target, tick=True)
                self._coordinates = self._travel.start()
            else:
                self._coordinates.move_to(target)
            self.clock = target
        self._scheduler.modify_job("tick", next_run_time=datetime.now(UTC))
        return target

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)  # a tick in progress ends before its database goes
            self._scheduler = None
        if self._deliverer is not None:
            self._deliverer.stop()
            self._deliverer = None
        if self._http is not None:
            stop_http(*self._http)
            self._http = None
        if self.page is not None:
            self.page.stop()
            self.page = None
        self.slack.stop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._travel is not None:
            self._travel.stop()
            self._travel = None


def next_business_morning(hours: AgencyHours, now: datetime) -> datetime:
    """The next opening time after `now`: today's when the agency has not opened yet on a business day,
    else the next business day's."""
    today = hours.local_day(now)
    if hours.is_business_day(today) and now < hours.morning(today):
        return hours.morning(today)
    return hours.morning(hours.next_business_day(today))


def parse_clock(value: str, timezone: str) -> datetime:
    """`--time`'s value, a wall time of the agency's time zone; ValueError when malformed."""
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=ZoneInfo(timezone))


def main(*, port: int, at: str | None) -> None:
    """Run the sandbox until Ctrl-C (or SIGTERM); a start-up problem is one line and exit code 2."""
    timezone = Settings(_env_file=None).agency_timezone
    clock = None
    if at is not None:
        try:
            clock = parse_clock(at, timezone)
        except ValueError:
            _stop(t("sandbox.cli.bad_time", value=at))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a plain kill also cleans up
    with tempfile.TemporaryDirectory(prefix="m3-sandbox-") as folder:
        sandbox = Sandbox(Path(folder) / "sandbox.db", port=port, clock=clock)
        try:
            sandbox.start()
        except ImportError:
            _stop(t("sandbox.cli.no_time_machine"))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            _stop(t("sandbox.cli.port_busy", port=port))
        try:
            _announce(sandbox)
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            sandbox.stop()


def _announce(sandbox: Sandbox) -> None:
    assert sandbox.page and sandbox.imported and sandbox.opened and sandbox.settings
    now = utcnow()
    timezone = sandbox.settings.agency_timezone
    lines = [
        t("sandbox.cli.ready", url=sandbox.page.url),
        t("sandbox.cli.users", users=", ".join(f"{u.real_name} ({t(f'sandbox.users.{u.role}')})" for u in USERS)),
        t("sandbox.cli.database", path=sandbox.database),
        t("sandbox.cli.imported", file=sandbox.imported.file_name, imported=sandbox.imported.imported,
          rejected=len(sandbox.imported.rejected)),
        t("sandbox.cli.opened", count=len(sandbox.opened.due), channel=CHANNEL[1]),
    ]
    if sandbox.clock is not None:
        lines.append(t("sandbox.cli.clock_moved", now=moment(now, timezone)))
    lines.append(t("sandbox.cli.scheduler"))
    if not is_legal_call_time(now, None):
        example = next_legal_call_time(now, None).strftime(TIME_FORMAT)
        lines.append(t("sandbox.cli.outside_hours", now=moment(now, timezone), example=example))
    lines.append(t("sandbox.cli.stop"))
    print("\n".join(lines), flush=True)


def _stop(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(2)
