"""`make bench` (`python -m bench.run`): every benchmark on this machine, written to `bench/RESULTS.md`.

    .venv/bin/python -m bench.run [--quick] [--runs 3] [--agents 1,10,50] [--sizes 1000,10000,100000]
                                  [--items 2000] [--speedup 10] [--pace-agents 10,30,50] [--pace-seconds 300]
                                  [--only statements,growth,pace,delivery] [--sqlite-latency] [--pg-url URL] [--out FILE]

On PostgreSQL and SQLite, the SQL statements of each click of whole calls (`bench.statements`); on
PostgreSQL (a database created and dropped per size) and SQLite (a temporary file): the growth timings
(`bench.growth`) at each size; at the largest size on PostgreSQL (and SQLite with `--sqlite-latency`), the
acknowledgement latency of N agents at once next to a bare Bolt app (`bench.latency`) and the bot's memory
after it; then N agents at a human pace under Slack's limits on PostgreSQL (`bench.human_pace`, one run of
`--pace-seconds` each); then delivery under Slack's limits `--speedup` times faster (`bench.delivery`).
`--only` picks sections ("growth" is the database section: growth, latency, memory). Each figure is the
median of `--runs` runs with the lowest and highest in brackets (the human-pace and delivery runs: one each).
Where a target is missed, py-spy profiles the missed work and its top frames go in the file. RESULTS.md is
rewritten after each section; its hand-written "Analysis" section (between the `analysis` markers) is kept.
`--quick` is a smoke run with small sizes (written to RESULTS.quick.md).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import time_machine
from sqlalchemy.engine import Engine

from bench import bench_home, growth, human_pace, statements
from bench.bench_home import AGENTS, DEFAULT_PG_URL, fill
from bench.delivery import Delivery
from bench.figures import Profile, Spread, growth_exponent, load_average, machine, top_frames
from bench.human_pace import Pace
from bench.latency import CALL_TIME, UNLIMITED, Memory, Run, bare_run, memory_after_load, ours_run, servers
from storage import outbox
from storage.db import migrate
from storage.tables import Outbox

HERE = Path(__file__).resolve().parent
ACK_P99_MS = 100.0
ACK_RATIO = 1.5
UPDATE_P99_MS = 300.0
DELIVERY_RATIO = 1.15
PACE_CLICKED_P99_MS = 500.0  # up to 50 agents
PACE_NEXT_STEP_P99_MS = 2000.0  # up to PACE_SMALL agents, as the two below
PACE_CARD_P99_MS = 10_000.0
PACE_SMALL = 10
GROWTH_SLACK = 0.15  # exponents within this of what is shown count as "no faster"
ANALYSIS = re.compile(r"<!-- analysis -->.*?<!-- /analysis -->", re.S)


@dataclass
class LatencyRow:
    database: str
    agents: int
    runs: list[tuple[Run, Run]]  # (ours, bare) per repetition

    def ours(self, figure: Callable[[Run], float]) -> Spread:
        return Spread.of([figure(ours) for ours, _ in self.runs])

    def bare(self, figure: Callable[[Run], float]) -> Spread:
        return Spread.of([figure(bare) for _, bare in self.runs])

    @property
    def ratio(self) -> Spread:
        return Spread.of([ours.ack(99) / bare.ack(99) for ours, bare in self.runs])

    def misses(self, largest: int) -> list[str]:
        missed = []
        if self.ours(lambda r: r.update(99)).median >= UPDATE_P99_MS:
            missed.append(f"card update p99 ≥ {UPDATE_P99_MS:.0f} ms")
        if self.agents == largest:
            if self.ratio.median > ACK_RATIO:
                missed.append(f"ack p99 > {ACK_RATIO}× bare")
            if self.ours(lambda r: r.ack(99)).median >= ACK_P99_MS:
                missed.append(f"ack p99 ≥ {ACK_P99_MS:.0f} ms")
        return missed


@dataclass
class GrowthRow:
    database: str
    timings: list[growth.Timing]  # one per size, same `what`

    @property
    def exponent(self) -> float:
        return growth_exponent([t.cases for t in self.timings], [t.ms.median for t in self.timings])

    @property
    def shown_exponent(self) -> float:
        return growth_exponent([t.cases for t in self.timings], [max(t.shown, 1) for t in self.timings])

    @property
    def met(self) -> bool:
        return self.exponent <= max(self.shown_exponent, 0.0) + GROWTH_SLACK


@dataclass
class Results:
    command: str
    started: datetime
    machine: dict[str, str]
    load_start: str
    runs: int
    latency: list[LatencyRow] = field(default_factory=list)
    memory: list[tuple[str, int, Memory]] = field(default_factory=list)
    growth: list[GrowthRow] = field(default_factory=list)
    delivery: list[Delivery] = field(default_factory=list)
    statements: list[statements.Statements] = field(default_factory=list)
    pace: list[Pace] = field(default_factory=list)
    profiles: list[tuple[str, list[tuple[str, float, float]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def main() -> None:
    args = _arguments()
    out = args.out or HERE / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    logs = Path(tempfile.mkdtemp(prefix="m3bench-"))
    logging.basicConfig(filename=logs / "bench.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"logs and profiles in {logs}", file=sys.stderr)
    results = Results(" ".join(["python -m bench.run", *sys.argv[1:]]), datetime.now(UTC), machine(args.pg_url),
                      load_average(), args.runs)
    started = time.monotonic()

    def in_time(section: str) -> bool:
        if args.stop_by is None or _now() < args.stop_by:
            return True
        results.notes.append(f"{section}: not run, past --stop-by {args.stop_by:%H:%M} UTC.")
        return False

    if "statements" in args.only and in_time("statements"):
        for name, make in (("PostgreSQL", lambda: bench_home.pg_engine(args.pg_url)),
                           ("SQLite", bench_home.sqlite_engine)):
            with make() as engine:
                results.statements.append(statements.measure(name, engine))
            _say(f"{name}: statements per click counted")
        write(results, out, time.monotonic() - started)
    if "growth" in args.only:
        _database(results, "PostgreSQL", lambda: bench_home.pg_engine(args.pg_url), args, logs, in_time)
        write(results, out, time.monotonic() - started)
        _database(results, "SQLite", bench_home.sqlite_engine, args, logs, in_time)
        write(results, out, time.monotonic() - started)
    if "pace" in args.only:
        _pace(results, args, logs, in_time, lambda: write(results, out, time.monotonic() - started))
    for _ in range(args.delivery_runs if "delivery" in args.only else 0):  # last: minutes of waiting on limits
        if in_time("delivery"):
            _say(f"delivery: {args.items:,} items under Slack's limits ×{args.speedup:g}")
            results.delivery.append(_delivery(results, args, logs))
            write(results, out, time.monotonic() - started)
    _say(f"written {out} in {time.monotonic() - started:.0f} s")


def _database(results: Results, name: str, make: Callable[[], AbstractContextManager[Engine]],
              args: argparse.Namespace, logs: Path, in_time: Callable[[str], bool]) -> None:
    """Growth at each size on a fresh database; at the largest, latency and memory when asked for."""
    per_size: list[list[growth.Timing]] = []
    for size in args.sizes:
        if not in_time(f"{name}, {size:,} cases"):
            break
        with make() as engine:
            migrate(engine)
            seconds = fill(engine, size)
            _say(f"{name}: {size:,} cases filled in {seconds:.0f} s")
            per_size.append(growth.measure(engine, size, args.runs))
            if size != args.sizes[-1]:
                continue
            rows = [GrowthRow(name, [timings[i] for timings in per_size]) for i in range(len(per_size[0]))]
            results.growth += rows
            for row in rows:
                if not row.met:
                    _profile_growth(results, engine, row, logs)
            if (name == "PostgreSQL" or args.sqlite_latency) and in_time(f"{name}, latency"):
                _latency(results, engine, name, size, args, logs)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, 2 runs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--agents", default="1,10,50")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--items", type=int, default=2000, help="due reminders and case openings delivered")
    parser.add_argument("--speedup", type=float, default=10.0,
                        help="the delivery run's Slack limits, this many times faster than Slack's")
    parser.add_argument("--pace-agents", default="10,30,50", help="agents of the human-pace runs")
    parser.add_argument("--pace-seconds", type=float, default=300.0, help="length of each human-pace run")
    parser.add_argument("--only", default="statements,growth,pace,delivery", help="sections to run, comma-separated")
    parser.add_argument("--largest-runs", type=int, help="runs at the largest number of agents (default: --runs)")
    parser.add_argument("--profile-agents", type=int, default=10, help="agents of the profiled extra run")
    parser.add_argument("--delivery-runs", type=int, default=1)
    parser.add_argument("--sqlite-latency", action="store_true")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--out", type=Path, help="the file written (default: bench/RESULTS.md; "
                        "a run of some sections only rewrites the whole file)")
    parser.add_argument("--stop-by", type=lambda hhmm: datetime.combine(datetime.now(UTC).date(),
                        datetime.strptime(hhmm, "%H:%M").time(), UTC),
                        help="HH:MM (UTC): sections not started by then are skipped, and said so")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.agents, args.sizes, args.items = 2, "1,3", "1000,3000", 200
        args.pace_agents, args.pace_seconds = "10", 30.0
    args.agents = [int(n) for n in str(args.agents).split(",")]
    args.pace_agents = [int(n) for n in str(args.pace_agents).split(",")]
    args.only = set(str(args.only).split(","))
    if unknown := args.only - {"statements", "growth", "pace", "delivery"}:
        parser.error(f"--only: no section {', '.join(sorted(unknown))}")
    args.largest_runs = args.largest_runs or args.runs
    args.profile_agents = min(args.profile_agents, max(args.agents))
    args.sizes = [int(n) for n in str(args.sizes).split(",")]
    return args


_REAL_START, _MONOTONIC_START = datetime.now(UTC), time.monotonic()


def _now() -> datetime:
    """The real time of day, also while the latency benchmark has travelled the clock to a calling slot."""
    return _REAL_START + timedelta(seconds=time.monotonic() - _MONOTONIC_START)


def _say(line: str) -> None:
    print(f"{_now():%H:%M:%S} {line} (load {load_average()})", file=sys.stderr, flush=True)


def _cases_each(agents: int) -> int:
    """Enough requests at one agent for a p99 to mean something: he walks three cases."""
    return 3 if agents == 1 else 1


def _latency(results: Results, engine: Engine, name: str, size: int, args: argparse.Namespace, logs: Path) -> None:
    largest = max(args.agents)
    # The growth timings queued Slack messages at today's date (the openings they timed, the look-ups of
    # their agents): due after the calling slot the servers travel to, they would never leave the outbox.
    with engine.begin() as connection:
        connection.execute(sa.delete(Outbox).where(Outbox.status == outbox.PENDING))
    with time_machine.travel(CALL_TIME, tick=True), servers(engine, logs / f"servers-{name}.log",
                                                                     pace=UNLIMITED) as bench:
        rows = {n: LatencyRow(name, n, []) for n in args.agents}
        for repetition in range(args.runs):
            for n in args.agents:
                if n == largest and repetition >= args.largest_runs:
                    continue
                ours = ours_run(bench, n, _cases_each(n))
                bare = bare_run(bench, ours)
                if ours.errors or bare.errors or ours.unfinished:
                    results.notes.append(f"{name}, {n} agents, run {repetition + 1}: {ours.errors} errors, "
                                         f"{ours.unfinished} cases not closed, bare {bare.errors} errors")
                rows[n].runs.append((ours, bare))
                _say(f"{name} {n} agents: ack p99 {ours.ack(99):.0f} ms (bare {bare.ack(99):.0f}), "
                     f"card update p99 {ours.update(99):.0f} ms")
        results.latency += rows.values()
        if args.largest_runs < args.runs:
            results.notes.append(f"{name}: {largest} agents measured in {args.largest_runs} run(s) only, not "
                                 f"{args.runs}: one run of them and its bare replay take minutes on this machine.")
        if any(row.misses(largest) for row in rows.values()):
            path = logs / f"latency-{name}.txt"
            profile = Profile(bench.ours.pid, path)
            ours_run(bench, args.profile_agents, 1)
            profile.stop()
            results.profiles.append((f"the bot process ({name}, {size:,} cases) during one more run of "
                                     f"{args.profile_agents} agents (not counted in the table)", top_frames(path)))
        results.memory.append((name, size, memory_after_load(bench, AGENTS[:10])))


def _pace(results: Results, args: argparse.Namespace, logs: Path, in_time: Callable[[str], bool],
          written: Callable[[], None]) -> None:
    """The human-pace runs, one per number of agents, against one bot on a fresh PostgreSQL database."""
    with bench_home.pg_engine(args.pg_url) as engine:
        migrate(engine)
        with time_machine.travel(CALL_TIME, tick=True), servers(engine, logs / "servers-pace.log", bare=False) as bench:
            for n in args.pace_agents:
                if not in_time(f"human pace, {n} agents"):
                    break
                _say(f"human pace: {n} agents for {args.pace_seconds:.0f} s under Slack's limits")
                pace = human_pace.run(bench, n, args.pace_seconds)
                results.pace.append(pace)
                if pace.errors or pace.lost:
                    results.notes.append(f"human pace, {n} agents: {pace.errors} agents stopped on an error, "
                                         f"{pace.lost} outbox rows lost (see the bench log)")
                _say(f"human pace {n} agents: clicked message p99 {pace.clicked(99):.0f} ms, next step p99 "
                     f"{pace.next_step(99):.0f} ms ({pace.next_step_late(99):.0f} after the first minute), card p99 "
                     f"{pace.card(99):.0f} ms, {pace.refused_after_first_minute} answers 429 after the first minute")
                written()


def _profile_growth(results: Results, engine: Engine, row: GrowthRow, logs: Path) -> None:
    """py-spy on this process while the missed work runs over and over for a few seconds."""
    path = logs / f"growth-{row.database}-{len(results.profiles)}.txt"
    profile = Profile(os.getpid(), path, rate=200)
    growth.repeat(engine, row.timings[0].what, seconds=5)
    profile.stop()
    results.profiles.append((f"{row.timings[0].what} on {row.database} with {row.timings[-1].cases:,} cases",
                             top_frames(path)))


def _delivery(results: Results, args: argparse.Namespace, logs: Path) -> Delivery:
    from bench.delivery import run_once

    openings = args.items // 2
    path = logs / f"delivery-{len(results.delivery)}.txt"
    delivery = run_once(args.pg_url, openings, args.items - openings, args.speedup,
                        profile=lambda: Profile(os.getpid(), path, idle=True))
    if delivery.ratio > DELIVERY_RATIO:
        results.profiles.append((f"delivery of {args.items:,} items (this process, waiting threads included)",
                                 top_frames(path)))
    return delivery


# ---- RESULTS.md ------------------------------------------------------------------------------------------


def write(results: Results, out: Path, seconds: float) -> None:
    kept = ANALYSIS.search(out.read_text()) if out.exists() else None
    analysis = kept.group(0) if kept else "<!-- analysis -->\n(none yet)\n<!-- /analysis -->"
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{results.command}` (`make bench`) on {results.started:%Y-%m-%d %H:%M} UTC in "
        f"{seconds / 60:.0f} min. Each figure is the median of the runs (usually {results.runs}; the tables say "
        "where fewer), the lowest and highest in brackets. How each benchmark works: the docstrings of "
        "`bench/latency.py`, `bench/delivery.py`, "
        "`bench/growth.py`, `bench/human_pace.py`.",
        "",
        "## Machine",
        "",
        "| " + " | ".join(results.machine) + " | load average (1, 5, 15 min) at start | at end |",
        "| " + " | ".join("---" for _ in range(len(results.machine) + 2)) + " |",
        "| " + " | ".join(results.machine.values()) + f" | {results.load_start} | {load_average()} |",
        "",
        *_targets(results),
        *_latency_table(results),
        *_statements_table(results),
        *_delivery_table(results),
        *_pace_table(results),
        *_growth_table(results),
        *_memory_table(results),
        *_profiles(results),
        "## Analysis",
        "",
        analysis,
        "",
    ]
    if results.notes:
        lines[-1:-1] = ["## Notes", "", *[f"- {note}" for note in results.notes], ""]
    out.write_text("\n".join(lines))


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _targets(results: Results) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for counted in results.statements:
        for kind in statements.KINDS:
            lines.append(f"| {counted.database}: SQL statements per click, {kind} ≤ {statements.TARGETS[kind]} "
                         f"| at most {counted.most(kind)} (median {counted.median(kind):g}) "
                         f"| {_yes(counted.met(kind))} |")
    for row in results.latency:
        largest = max(r.agents for r in results.latency if r.database == row.database)
        update = row.ours(lambda r: r.update(99))
        lines.append(f"| {row.database}, {row.agents} agents: click → card update p99 < {UPDATE_P99_MS:.0f} ms "
                     f"| {update.show()} ms | {_yes(update.median < UPDATE_P99_MS)} |")
        if row.agents == largest:
            ack = row.ours(lambda r: r.ack(99))
            lines.append(f"| {row.database}, {row.agents} agents: ack p99 < {ACK_P99_MS:.0f} ms | {ack.show()} ms "
                         f"| {_yes(ack.median < ACK_P99_MS)} |")
            lines.append(f"| {row.database}, {row.agents} agents: ack p99 ≤ {ACK_RATIO}× bare Bolt's "
                         f"| {row.ratio.show(1)}× | {_yes(row.ratio.median <= ACK_RATIO)} |")
    for d in results.delivery:
        lines.append(f"| delivery of {d.openings + d.reminders:,} items under Slack's limits ×{d.speedup:g}: time ≤ "
                     f"{DELIVERY_RATIO}× the floor, none lost or duplicated | {d.ratio:.2f}× the floor "
                     f"({d.floor_s:.1f} s), {d.lost} lost, {d.duplicated} duplicated, {d.ratelimited:,} answers 429 "
                     f"| {_yes(d.ratio <= DELIVERY_RATIO and not d.lost and not d.duplicated)} |")
    lines += _pace_targets(results)
    for row in results.growth:
        lines.append(f"| {row.database}, {row.timings[0].what}: time grows no faster than what it shows "
                     f"| time ∝ cases^{row.exponent:.2f}, shown ∝ cases^{row.shown_exponent:.2f} "
                     f"| {_yes(row.met)} |")
    return [*lines, ""]


def _latency_table(results: Results) -> list[str]:
    if not results.latency:
        return []
    lines = [
        "## 1. Acknowledgement latency (ms)",
        "",
        "N agents at once, each clicking through whole calls (one agent: three calls in a row), over HTTP with "
        "signed requests, the stand-in applying no rate limit; the same requests at the same pace replayed "
        "against a bare Bolt app (listeners that only acknowledge) behind the same waitress set-up. The load "
        "driver and the stand-in share the 2 cores with the bot (and the stand-in checks every Block Kit "
        "payload the bot sends), which weighs on ours and not on the bare app.",
        "",
        "| database | agents | runs | requests per run | ack p50 | ack p95 | ack p99 | bare p50 | bare p95 | bare p99 "
        "| p99 ours / bare | card update p50 | card update p95 | card update p99 | missed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in results.latency:
        largest = max(r.agents for r in results.latency if r.database == row.database)
        requests = Spread.of([len(ours.sent) for ours, _ in row.runs])
        cells = [row.ours(lambda r, q=q: r.ack(q)).show() for q in (50, 95, 99)]
        cells += [row.bare(lambda r, q=q: r.ack(q)).show() for q in (50, 95, 99)]
        cells.append(row.ratio.show(1) + "×")
        cells += [row.ours(lambda r, q=q: r.update(q)).show() for q in (50, 95, 99)]
        missed = "; ".join(row.misses(largest)) or "—"
        lines.append(f"| {row.database} | {row.agents} | {len(row.runs)} | {requests.median:.0f} | " + " | ".join(cells)
                     + f" | {missed} |")
    lines += [
        "",
        "By kind of request: a click is acknowledged as soon as the middleware knows the user and the case (its "
        "work goes on after the answer); a modal's submission is answered once its change is committed, so "
        "that a refusal can be shown in the modal.",
        "",
        "| database | agents | kind | per run | ack p50 | ack p99 | bare p50 | bare p99 |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results.latency:
        for kind, label in (("block_actions", "click"), ("view_submission", "modal submission")):
            count = Spread.of([ours.count(kind) for ours, _ in row.runs]).median
            cells = [row.ours(lambda r, q=q, kind=kind: r.ack(q, kind)).show() for q in (50, 99)]
            cells += [row.bare(lambda r, q=q, kind=kind: r.ack(q, kind)).show() for q in (50, 99)]
            lines.append(f"| {row.database} | {row.agents} | {label} | {count:.0f} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _statements_table(results: Results) -> list[str]:
    if not results.statements:
        return []
    lines = [
        "## 6. SQL statements per click",
        "",
        "Every click of two whole calls (a particulier's, a professionnel's), from the request to its commit, "
        "delivery apart, SQLite's `BEGIN IMMEDIATE` included (`bench/statements.py`). One run: the counts do "
        "not depend on the machine.",
        "",
        "| database | kind | clicks | median | most | the most costly | target |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for counted in results.statements:
        for kind in statements.KINDS:
            lines.append(f"| {counted.database} | {kind} | {len(counted.counts[kind])} | {counted.median(kind):g} "
                         f"| {counted.most(kind)} | `{counted.heaviest[kind]}` | ≤ {statements.TARGETS[kind]} |")
    return [*lines, ""]


def _delivery_table(results: Results) -> list[str]:
    if not results.delivery:
        return []
    lines = [
        "## 2. Delivery under Slack's limits",
        "",
        "Half the items are cases opened by the scheduler's morning reminder (card and first step each, in the "
        "M+3 channel), half are action reminders (a direct message to each owner); plus the leads' digest. "
        "The stand-in applies Slack's limits at their defaults (`sandbox.slack_api.Limits`) run faster by the "
        "factor shown (at Slack's own rates the floor of 2,000 items is over half an hour), and answers 429 with "
        "`Retry-After` (whole seconds, as Slack) past them. The floor is the least time the calls Slack accepted "
        "need under those limits (`Limits.floor`: the busiest bucket's calls past its burst, at its rate; here "
        "the M+3 channel's posts). The delivery time runs from the deliverer's start (everything already in the "
        "outbox) to the last call Slack accepted; the scheduler's ticks that queued it are timed apart.",
        "",
        "| items | Slack messages | limits | posts per channel | busiest channel | achieved there | floor (s) "
        "| delivery (s) | / floor "
        "| 429 answers | attempts per message | lost | duplicated | scheduler ticks (s) |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in results.delivery:
        lines.append(f"| {d.openings + d.reminders:,} | {d.messages:,} | Slack's ×{d.speedup:g} | {d.rate:.0f}/s "
                     f"| {d.busiest:,} "
                     f"| {d.busiest / d.delivery_s:.1f}/s "
                     f"| {d.floor_s:.1f} | {d.delivery_s:.1f} | {d.ratio:.2f}× | {d.ratelimited:,} | {d.attempts:.1f} | {d.lost} "
                     f"| {d.duplicated} | {d.scheduler_s:.1f} |")
    if len(results.delivery) == 1:
        lines += ["", "One run only (it is bound by the rate, not by the machine, and takes minutes)."]
    return [*lines, ""]


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0f}"


def _pace_targets(results: Results) -> list[str]:
    lines = []
    for p in results.pace:
        name = f"Slack limits, {p.agents} agents at human pace"
        clicked = p.clicked(99)
        lines.append(f"| {name}: click → clicked message updated p99 < {PACE_CLICKED_P99_MS:.0f} ms | {_ms(clicked)} ms "
                     f"(p50 {_ms(p.clicked(50))}, p95 {_ms(p.clicked(95))}; {_via(p)}) "
                     f"| {_yes(clicked < PACE_CLICKED_P99_MS)} |")
        if p.agents <= PACE_SMALL:
            lines += [
                f"| {name}: no 429 after the first minute | {p.refused_after_first_minute:,} "
                f"| {_yes(p.refused_after_first_minute == 0)} |",
                f"| {name}: click → next step posted p99 < {PACE_NEXT_STEP_P99_MS / 1000:.0f} s, after the first "
                f"minute | {_ms(p.next_step_late(99))} ms (whole run: {_ms(p.next_step(99))}) "
                f"| {_yes(p.next_step_late(99) < PACE_NEXT_STEP_P99_MS)} |",
                f"| {name}: click → card updated p99 < {PACE_CARD_P99_MS / 1000:.0f} s, after the first minute "
                f"| {_ms(p.card_late(99))} ms (whole run: {_ms(p.card(99))}) | {_yes(p.card_late(99) < PACE_CARD_P99_MS)} |",
            ]
        else:
            lines.append(
                f"| {name}: within what Slack's limits allow, nothing lost | limits allow "
                f"{p.posts_allowed_per_minute:.0f} posts/min in the channel (asked at the intended pace: "
                f"{p.asked_per_minute(p.channel_posts):.0f}, done: {p.channel_posts / p.seconds * 60:.0f}) and "
                f"{p.updates_allowed_per_minute:.0f} chat.update/min (asked: {p.asked_per_minute(p.updates):.0f}, done: "
                f"{p.updates / p.seconds * 60:.0f}), i.e. {p.agents_allowed:.1f} agents at the intended pace; card p99 "
                f"{_ms(p.card(99))} ms; {p.lost} rows lost | {_yes(not p.lost and not p.errors)} |")
    return lines


def _via(p: Pace) -> str:
    return ", ".join(f"{count} by {via}" for via, count in sorted(p.clicked_via.items())) or "no update seen"


def _pace_table(results: Results) -> list[str]:
    if not results.pace:
        return []
    lines = [
        "## 5. Slack's limits at a human pace",
        "",
        "N agents each clicking through whole calls, pausing 4 to 8 s (random) before each click or modal "
        f"submission ({human_pace.INTENDED_PER_MINUTE:.0f} a minute intended), the stand-in applying Slack's "
        "limits at their defaults (`sandbox.slack_api.Limits`: chat.update 50/min, views and ephemerals 100/min, "
        "bursts of 10; posts 1/s per channel with bursts of 3, 300/min in the workspace), on PostgreSQL, one run "
        "each. Times from the agent's click to what the stand-in shows (ms); the outbox's oldest pending row "
        "sampled from the database (s). \"Agents allowed\": how many agents at the intended pace the channel's "
        "posts and chat.update's tier let through, from the calls each click made in this run.",
        "",
        f"| agents | seconds | clicks / agent / min (intended {human_pace.INTENDED_PER_MINUTE:.0f}) "
        "| clicked message p50 | p95 | p99 | updated by | next step p99 (after 1st min) "
        "| card p99 (after 1st min) | outbox oldest p99 (s) | 429 after 1st min | 429 in all | channel posts / min (allowed) "
        "| chat.update / min (allowed) | agents allowed | lost |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in results.pace:
        age = p.outbox_age(99)
        lines.append(
            f"| {p.agents} | {p.seconds:.0f} | {p.per_agent_per_minute:.1f} | {_ms(p.clicked(50))} "
            f"| {_ms(p.clicked(95))} | {_ms(p.clicked(99))} | {_via(p)} | {_ms(p.next_step(99))} "
            f"({_ms(p.next_step_late(99))}) | {_ms(p.card(99))} ({_ms(p.card_late(99))}) "
            f"| {'—' if math.isnan(age) else f'{age:.1f}'} | {p.refused_after_first_minute:,} | {p.refused:,} "
            f"| {p.channel_posts / p.seconds * 60:.0f} ({p.posts_allowed_per_minute:.0f}) "
            f"| {p.updates / p.seconds * 60:.0f} ({p.updates_allowed_per_minute:.0f}) | {p.agents_allowed:.1f} "
            f"| {p.lost} |")
    return [*lines, ""]


def _growth_table(results: Results) -> list[str]:
    if not results.growth:
        return []
    lines = [
        "## 3. Growth with the number of cases",
        "",
        "\"shown\": the cases it opens (the same 50 due cases at every size), lists (the agent's list, at most "
        "100 rows) or counts (the lead's period); \"looked at\": the agent's open cases the list is taken from. "
        "The exponent k says time ∝ cases^k between the smallest and largest size (least squares, log-log).",
        "",
        "| database | what | cases | shown | looked at | time (ms) | µs per case looked at |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results.growth:
        for t in row.timings:
            lines.append(f"| {row.database} | {t.what} | {t.cases:,} | {t.shown:,} | {t.scanned:,} "
                         f"| {t.ms.show(1)} | {growth.per_case_us(t):.0f} |")
        lines.append(f"| {row.database} | {row.timings[0].what} | **grows as** | cases^{row.shown_exponent:.2f} "
                     f"| | cases^{row.exponent:.2f} | {'no faster than shown' if row.met else '**faster than shown**'} |")
    return [*lines, ""]


def _memory_table(results: Results) -> list[str]:
    if not results.memory:
        return []
    lines = [
        "## 4. Memory of the bot process (resident, MiB)",
        "",
        "Read from /proc: after start-up, after the click load of benchmark 1, then after ten agents of the "
        "filled database asked for `/m3 mes-dossiers` and their App Home and the lead opened his.",
        "",
        "| database | cases | after start | after the click load | after lists and Homes | peak |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, size, m in results.memory:
        lines.append(f"| {name} | {size:,} | {m.idle_mb:.0f} | {m.after_load_mb:.0f} | {m.after_lists_mb:.0f} "
                     f"| {m.peak_mb:.0f} |")
    return [*lines, ""]


def _profiles(results: Results) -> list[str]:
    if not results.profiles:
        return []
    lines = ["## Profiles of the missed targets (py-spy)", ""]
    for what, frames in results.profiles:
        lines += [f"### {what}", "", "| function | on the stack (%) | innermost (%) |", "| --- | ---: | ---: |"]
        lines += [f"| `{name}` | {inclusive:.0f} | {own:.0f} |" for name, inclusive, own in frames]
        lines.append("")
    return lines


if __name__ == "__main__":
    main()
