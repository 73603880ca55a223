"""Benchmark 2: delivering what the scheduler fires under Slack's rate limits, against the floor they set.

A fresh PostgreSQL database is filled by `bench.bench_home`'s generator, then half of its cases are made due
for opening on a Thursday and the other half given one action due that day, their owners known to Slack.
The scheduler (`service.ticker.Ticker` with the bot's `SlackNotifier`) ticks the evening before (it creates
the reminders), then on the Thursday morning: the morning reminder opens the due cases (card and first step
of each in the M+3 channel, and the leads' digest) and each action's reminder goes to its owner by direct
message. Everything lands in the outbox in the scheduler's transactions; then the bot's `OutboxDeliverer`,
at its production settings, delivers it to the stand-in, which applies Slack's limits (`sandbox.slack_api.
Limits`, its defaults) `speedup` times faster than Slack (ten by default: at Slack's own rates the floor of
2,000 items is over 33 minutes) and answers 429 with `Retry-After` past them.

The floor is the least time the calls Slack accepted need under the limits in force (`Limits.floor`: the
busiest bucket's calls past its burst, at its rate; here the M+3 channel's posts). The checks: every outbox
row delivered and its message in Slack (none lost), no message in Slack that no row accounts for (none
duplicated), and the 429 answers counted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.bench_home import AGENTS, fill, pg_engine
from bench.figures import Profile
from bot.app import delivery_client
from bot.notifier import SlackNotifier
from bot.outbox_delivery import OutboxDeliverer
from config.pacing import PaceSettings
from config.settings import Settings
from sandbox.slack_api import Limits, SlackStandIn
from service.ticker import Ticker
from storage import outbox
from storage.db import migrate
from storage.tables import Action, Agent, CallAttempt, ContractCheck, M3Case, Outbox, ProfileCheck, ProtectionCheck
from tests.bot.harness import CHANNEL, wait_until

DAY = date(2026, 11, 26)  # a Thursday in the past: what the scheduler queues is due at once for delivery
EVENING = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)  # Wednesday 20:00 in Paris, the agency closed
MORNING = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # Thursday 10:00 in Paris
LEAD = "U0LEAD"
POSTS = "chat.postMessage"


@dataclass
class Delivery:
    openings: int
    reminders: int
    speedup: float  # the stand-in's limits, this many times Slack's
    rate: float  # chat.postMessage per second and per channel, speed-up included
    messages: int  # Slack messages expected
    busiest: int  # messages in the busiest channel
    floor_s: float
    scheduler_s: float  # the ticks that fired everything into the outbox
    delivery_s: float  # from the deliverer's start to the last message accepted by Slack
    lost: int
    duplicated: int
    ratelimited: int  # 429 answers, every method
    attempts: float  # mean attempts per outbox row

    @property
    def ratio(self) -> float:
        return self.delivery_s / self.floor_s


def prepare(engine: Engine, openings: int, reminders: int) -> None:
    """Cases 1..openings due for opening on DAY; the next `reminders` cases in their action plan with one
    action due on DAY; every agent known to Slack."""
    fill(engine, openings + reminders)
    with engine.begin() as connection:
        for table in (Action, CallAttempt, ProfileCheck, ContractCheck, ProtectionCheck):
            connection.execute(sa.delete(table))
        blank = {"closed_at": None, "close_reason": None, "callback_at": None}
        connection.execute(sa.update(M3Case).where(M3Case.id <= openings).values(
            state="preparation", opened_at=None, out_of_time_at=None, m3_date=DAY, admin_profile_done_at=None,
            admin_contracts_done_at=None, rebound_done_at=None, **blank))
        connection.execute(sa.update(M3Case).where(M3Case.id > openings).values(state="action_plan", **blank))
        owners = dict(connection.execute(sa.select(M3Case.id, M3Case.agent).where(M3Case.id > openings)).all())
        connection.execute(sa.insert(Action.__table__), [
            # A relance for a missing piece: administrative, it reminds its owner whatever the consent (a
            # commercial one without the client's consent reminds no one).
            {"case_id": case_id, "kind": "relance", "due_on": DAY, "owner": owner, "status": "todo",
             "aim": "administrative", "created_at": EVENING, "created_by": owner} for case_id, owner in owners.items()])
        for n, email in enumerate(AGENTS):
            connection.execute(sa.update(Agent).where(Agent.email == email).values(slack_user_id=f"U0AG{n:02d}"))


def queue_morning(engine: Engine, slack: SlackStandIn) -> tuple[Settings, float]:
    """The scheduler's ticks of the evening before and of the morning, which fill the outbox; the bot's
    settings against `slack`, and the seconds the morning's ticks took."""
    slack.add_channel(CHANNEL, "m3-suivi")
    slack.add_user(LEAD, "chef@agence.fr", "lea")
    for n, email in enumerate(AGENTS):
        slack.add_user(f"U0AG{n:02d}", email, email.split("@")[0])
    settings = Settings(_env_file=None, database_url=engine.url.render_as_string(hide_password=False),
                        slack_bot_token=slack.token, slack_api_url=slack.api_url, m3_channel=CHANNEL,
                        m3_leads=[LEAD])
    ticker = Ticker(engine, SlackNotifier(settings), settings, worker="bench")
    ticker.tick(EVENING)
    started = time.monotonic()
    while ticker.tick(MORNING).fired:
        pass
    return settings, time.monotonic() - started


def run_once(pg_admin_url: str, openings: int, reminders: int, speedup: float,
             profile: Callable[[], Profile] | None = None) -> Delivery:
    """One delivery run under Slack's default limits `speedup` times faster; `profile` starts a profiler
    watching the delivery (stopped when it is over)."""
    with pg_engine(pg_admin_url) as engine, SlackStandIn() as slack:
        migrate(engine)
        prepare(engine, openings, reminders)
        settings, scheduler_s = queue_morning(engine, slack)
        limits = slack.limits = Limits().scaled(speedup)  # the scheduler's ticks above called no limited method
        # The deliverer paces to Slack's limits as many times faster as the stand-in applies them (whose
        # bursts stay Slack-sized: the pacing's bursts must fit inside them).
        pace = PaceSettings(_env_file=None).faster(speedup, bursts=2)
        deliverer = OutboxDeliverer(engine, delivery_client(settings), pace=pace)
        profiler = profile() if profile else None
        started = time.monotonic()
        deliverer.start()
        try:
            wait_until(lambda: _pending(engine) == 0, timeout=3600, interval=0.2)
        finally:
            deliverer.stop()
            if profiler:
                profiler.stop()
        delivering = [c for c in slack.calls if c.at >= started]
        accepted = [c for c in delivering if c.status == 200 and c.response.get("ok")]
        per_channel = Counter(c.args.get("channel") for c in accepted if c.method == POSTS)
        lost, duplicated, expected = _ledger(engine, slack)
        return Delivery(
            openings=openings, reminders=reminders, speedup=speedup, rate=limits.channel_post_rate,
            messages=expected, busiest=max(per_channel.values()), floor_s=limits.floor(accepted),
            scheduler_s=scheduler_s, delivery_s=max(c.at for c in accepted) - started,
            lost=lost, duplicated=duplicated,
            ratelimited=sum(1 for c in delivering if c.status == 429),
            attempts=_attempts(engine),
        )


def _attempts(engine: Engine) -> float:
    with Session(engine) as session:
        return float(session.exec(select(sa.func.avg(Outbox.attempts))).one())


def _pending(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(sa.func.count(Outbox.id)).where(Outbox.status == outbox.PENDING)).one()


def _ledger(engine: Engine, slack: SlackStandIn) -> tuple[int, int, int]:
    """(lost, duplicated, expected): rows not delivered or whose message Slack does not have; messages of
    the bot in Slack that no row delivered."""
    with Session(engine) as session:
        rows = list(session.exec(select(Outbox)))
    delivered = {(r.result["channel"], r.result["ts"]) for r in rows
                 if r.status == outbox.DELIVERED and r.result and "ts" in r.result}
    in_slack = {(channel, m.ts) for channel, messages in slack.messages.items() for m in messages
                if m.user == slack.bot_user_id}
    expected = sum(1 for r in rows if not (r.result or {}).get("coalesced_into"))
    lost = sum(1 for r in rows if r.status != outbox.DELIVERED) + len(delivered - in_slack)
    return lost, len(in_slack - delivered), expected
