"""Benchmark (not a test): how long a lead's App Home takes to build with 100,000 cases in the database.

    .venv/bin/python -m bench.bench_home [--cases 100000] [--runs 7] [--pg-url postgresql+psycopg://...]

Fills a fresh SQLite file and a fresh PostgreSQL database (created and dropped here) with cases spread over
four years, through bulk inserts of plausible rows (clients, contracts, attempts, answers, actions; not
through the workflow, which would take hours), then times the whole lead Home (`storage.dashboards` queries
+ the Block Kit view) for each period the lead can pick, and an agent's Home. Prints a Markdown table of
the best, median and worst of `--runs` builds, after one warm-up. Target: under 200 ms for the lead's Home.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.rendering import agent_names
from bot.views.home import agent_home, lead_home
from bot.views.lists import CaseRow
from storage.chain import entry_hash
from storage.dashboards import PERIODS, Period, agent_today, build_dashboard
from storage.db import make_engine, migrate, normalize_url
from storage.tables import (
    Action,
    Agent,
    AuditEntry,
    CallAttempt,
    Client,
    Contract,
    ContractCheck,
    M3Case,
    ProfileCheck,
    ProtectionCheck,
)
from storage.worklists import agent_queue
from storage.workspaces import OWNED, only

TODAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TZ = "Europe/Paris"
FIRST_DAY = date(2022, 12, 1)
AGENTS = [f"agent{i:02d}@agence.fr" for i in range(40)]
ORIGINS = ("chalandise", "recommandation", "apporteur", "lead")
PRODUCTS = ("AUTO", "HABITATION", "SANTE", "PJ", "GAV", "PREVOYANCE", "MRP")
PROTECTIONS = ("prevoyance", "gav", "pj", "retraite")
INSURERS = ("MAIF", "AXA", "MACIF", "Groupama", "MMA", "Allianz", None)
PIECES = ("permis", "rib", "mandat_sepa", "releve_information")
BATCH = 20_000
DEFAULT_PG_URL = os.environ.get("M3_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _rows(cases: int, seed: int = 6) -> dict[type, list[dict]]:
    """Every table's rows for `cases` cases: about 60 % reached, 45 % through the rebound; all closed
    after two months (an agent has a few dozen open cases, as in an agency that keeps up). Each case has
    the audit trail the workflow would have written (the compliance verdict reads it)."""
    rng = random.Random(seed)
    span = (TODAY - FIRST_DAY).days
    out: dict[type, list[dict]] = {t: [] for t in (Client, M3Case, Contract, CallAttempt, ProfileCheck,
                                                   ContractCheck, ProtectionCheck, Action, AuditEntry)}
    contract_id = 0
    for i in range(1, cases + 1):
        opened = datetime.combine(FIRST_DAY + timedelta(days=rng.randrange(span)), datetime.min.time(), UTC) \
            + timedelta(hours=7)
        agent = rng.choice(AGENTS)
        call = opened + timedelta(days=rng.randrange(1, 15), hours=2)
        stage = rng.random()
        # Cases older than two months are all closed by now; the recent ones are at every step.
        recent = (TODAY - opened.date()).days < 60
        reached, rebound, closed = stage < 0.6, stage < 0.45, not recent or stage < 0.35 or stage > 0.9
        out[Client].append({"id": i, "number": f"C{i:07d}", "client_type": "particulier", "last_name": f"Nom{i}",
                            "first_name": "", "civility": "", "created_at": opened, "updated_at": opened})
        case = {"id": i, "state": "closed" if closed else ("action_plan" if rebound else "preparation"),
                "client_id": i, "m3_date": opened.date(), "seller": agent, "agent": agent,
                "callback_client_requested": False, "opened_at": opened, "version": 0, "created_at": opened,
                "admin_profile_done_at": call if reached else None,
                "admin_contracts_done_at": call if reached else None,
                "rebound_done_at": call if rebound else None, "closed_at": call if closed else None,
                "close_reason": ("completed" if rebound else "unreachable") if closed else None}
        out[M3Case].append(case)
        products = [rng.choice(PRODUCTS)] + ([rng.choice(PRODUCTS)] if rng.random() < 0.3 else [])
        products += [rng.choice(PRODUCTS)] if rebound and rng.random() < 0.2 else []  # taken after the call
        for n, product in enumerate(products):
            contract_id += 1
            # The case's contracts three months before the opening; a third one taken after the call.
            subscribed = call.date() + timedelta(days=10) if n == 2 else opened.date() - timedelta(days=90)
            out[Contract].append({"id": contract_id, "number": f"K{contract_id:08d}", "client_id": i,
                                  "case_id": i if n < 2 else None, "product": product, "formula": "",
                                  "subscribed_on": subscribed, "origin": rng.choice(ORIGINS), "signed": True,
                                  "missing_pieces": [], "updated_at": opened})
            if n == 0 and reached:
                missing = rng.random() < 0.2
                out[ContractCheck].append({"case_id": i, "contract_id": contract_id, "at": call, "by": agent,
                                           "answer": "missing_piece" if missing else "signed",
                                           "piece": rng.choice(PIECES) if missing else None,
                                           "recovery": "email" if missing else None})
        if stage < 0.8:
            out[CallAttempt].append({"client_id": i, "case_id": i, "at": call, "by": agent,
                                     "outcome": "available" if reached else "no_answer", "channel": "telephone",
                                     "client_requested": False})
        if reached:
            for field in ("phone", "email", "professional_status"):
                answer = "modified" if rng.random() < 0.15 else "confirmed"
                out[ProfileCheck].append({"case_id": i, "field": field, "answer": answer, "at": call, "by": agent})
        if rebound:
            for protection in PROTECTIONS:
                elsewhere = rng.random() < 0.4
                out[ProtectionCheck].append({"case_id": i, "protection": protection, "at": call, "by": agent,
                                             "answer": "elsewhere" if elsewhere else "not_covered",
                                             "insurer": rng.choice(INSURERS) if elsewhere else None,
                                             "priority": not elsewhere and rng.random() < 0.3})
            for kind in rng.sample(("devis", "rdv", "relance"), 2):
                due = call.date() + timedelta(days=rng.randrange(3, 30))
                done = due < TODAY and rng.random() < 0.7
                out[Action].append({"case_id": i, "kind": kind, "due_on": due, "owner": agent,
                                    "status": "done" if done else "todo", "created_at": call, "created_by": agent,
                                    "done_at": call + timedelta(days=3) if done else None})
        out[AuditEntry] += _trail(rng, i, agent, opened, call, out[ProtectionCheck][-4:] if rebound else [],
                                  out[Action][-2:] if rebound else [], stage=stage, closed=case["close_reason"])
    return out


def _trail(rng: random.Random, case_id: int, agent: str, opened: datetime, call: datetime, protections: list[dict],
           actions: list[dict], *, stage: float, closed: str | None) -> list[dict]:
    """The audit entries of one case as the workflow writes them, in order (same names and data)."""
    events: list[tuple[datetime, str, dict]] = [(opened, "case_opened", {})]
    if stage < 0.8:
        events += [(call, "call_started", {"caller": agent, "variant": "seller"}),
                   (call, "attempt_recorded", {"outcome": "available" if stage < 0.6 else "no_answer"})]
    if stage < 0.6:
        events += [(call, "profile_answered", {"field": f, "answer": "confirmed"}) for f in ("phone", "email")]
        events += [(call, "profile_validated", {"changed": []}), (call, "contract_answered", {"answer": "signed"}),
                   (call, "contracts_validated", {"missing": []})]
    if protections:
        events.append((call, "agreement_recorded", {"agreed": True, "wording": "Parlons de vos autres contrats ?"}))
        for p in protections:
            events.append((call, "protection_answered", {"protection": p["protection"], "answer": p["answer"]}))
            if p["priority"]:
                events.append((call, "priority_set", {"protection": p["protection"], "priority": True,
                                                      "reason": "manque"}))
        events.append((call, "rebound_finished", {}))
        events += [(call, "action_added", {"kind": a["kind"], "purpose": None,
                                           "reason": "GAV absente" if rng.random() < 0.8 else None}) for a in actions]
    if closed:
        events.append((call, "case_closed", {"reason": closed}))
    # Chained as `storage.audit` chains them (no client secret in this data set: sealed is the data itself).
    entries, head = [], None
    for seq, (at, event, data) in enumerate(events, start=1):
        head = entry_hash(head, seq=seq, case_id=case_id, client_id=case_id, at=at, actor=agent, event=event,
                          sealed=data)
        entries.append({"at": at, "actor": agent, "case_id": case_id, "client_id": case_id, "event": event,
                        "data": data, "sealed": data, "seq": seq, "hash": head})
    return entries


def fill(engine: Engine, cases: int) -> float:
    """Bulk-insert the data set; returns the seconds it took."""
    started = time.perf_counter()
    with Session(engine) as session:  # the single agency's workspace, as a first run of the bot creates it
        workspace = {"workspace_id": only(session)}
        session.commit()
    agents = [{"email": a, "display_name": a.split("@")[0]} for a in AGENTS]
    with engine.begin() as connection:
        for table, rows in [(Agent, agents), *_rows(cases).items()]:
            if table in OWNED:  # Core inserts name the workspace of what belongs to the agency
                rows = [{**row, **workspace} for row in rows]
            for start in range(0, len(rows), BATCH):
                connection.execute(sa.insert(table.__table__), rows[start:start + BATCH])
        # Each case's chain head, as `storage.audit` keeps it: the next entry the bot appends follows the trail.
        last = sa.select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.case_id == M3Case.id)
        last = last.order_by(AuditEntry.seq.desc()).limit(1).correlate(M3Case)
        connection.execute(sa.update(M3Case).values(
            audit_count=sa.func.coalesce(last.with_only_columns(AuditEntry.seq).scalar_subquery(), 0),
            audit_head=last.with_only_columns(AuditEntry.hash).scalar_subquery()))
        if engine.dialect.name == "postgresql":
            for table in ("client", "m3_case", "contract"):  # explicit ids: move the sequences past them
                connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # What autovacuum does on PostgreSQL and `PRAGMA optimize` on SQLite: statistics for the planner.
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def lead_home_ms(engine: Engine, period: Period) -> Callable[[], None]:
    def build() -> None:
        with Session(engine) as session:
            lead_home(build_dashboard(session, period, today=TODAY, timezone=TZ), agent_names(session))
    return build


def agent_home_ms(engine: Engine, agent: str) -> Callable[[], None]:
    def build() -> None:
        with Session(engine) as session:
            queue = agent_queue(session, agent, timezone=TZ)
            today = agent_today(session, agent, now=NOW, timezone=TZ)
        agent_home([CaseRow(r.case_id, r.client, r.state, r.urgent_on) for r in queue], today)
    return build


def timed(build: Callable[[], None], runs: int) -> tuple[float, float, float]:
    """(best, median, worst) milliseconds: on a shared machine the best is the closest to the cost alone."""
    build()  # warm-up: connection pool, statement caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        build()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples), statistics.median(samples), max(samples)


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def pg_engine(admin_url: str) -> Iterator[Engine]:
    name = f"m3bench_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(normalize_url(admin_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    periods = [(code, Period.preset(code, TODAY)) for code in PERIODS]
    periods.append(("everything", Period(FIRST_DAY, TODAY)))
    print(f"{args.cases:,} cases over {FIRST_DAY:%d/%m/%Y}–{TODAY:%d/%m/%Y}, {len(AGENTS)} agents; "
          f"{args.runs} builds after a warm-up; load average {os.getloadavg()[0]:.1f} at start\n")
    print("| database | Home | period | cases in period | best ms | median ms | worst ms |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for name, make in (("SQLite", sqlite_engine), ("PostgreSQL", lambda: pg_engine(args.pg_url))):
        with make() as engine:
            migrate(engine)
            load = fill(engine, args.cases)
            print(f"| {name} | (bulk load of the {args.cases:,} cases) | | | {load * 1000:.0f} | | |")
            measure(engine, name, periods, args.runs)


def measure(engine: Engine, name: str, periods: list[tuple[str, Period]], runs: int) -> None:
    for code, period in periods:
        with Session(engine) as session:
            opened = build_dashboard(session, period, today=TODAY, timezone=TZ).total.opened
        best, median, worst = timed(lead_home_ms(engine, period), runs)
        print(f"| {name} | lead | {code} | {opened:,} | {best:.0f} | {median:.0f} | {worst:.0f} |")
    best, median, worst = timed(agent_home_ms(engine, AGENTS[0]), runs)
    print(f"| {name} | agent | his open cases, his week | — | {best:.0f} | {median:.0f} | {worst:.0f} |")


if __name__ == "__main__":
    main()
