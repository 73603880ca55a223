"""What every benchmark reports with: percentiles of one run, the median and spread of a figure over runs,
how a time grows with a size, the machine it ran on, a process's resident memory, and py-spy profiles."""

from __future__ import annotations

import math
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from storage.db import make_engine

ROOT = Path(__file__).resolve().parents[1]


def percentile(samples: Sequence[float], q: int) -> float:
    """The q-th percentile (1..99), interpolated between the two nearest samples."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class Spread:
    """A figure measured over several runs: the median run, and the lowest and highest."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def show(self, digits: int = 0) -> str:
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}–{self.high:.{digits}f})"


def growth_exponent(sizes: Sequence[float], times: Sequence[float]) -> float:
    """k in time ∝ size^k, least squares in log-log (1: linear, 0: flat)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine(pg_admin_url: str) -> dict[str, str]:
    """nproc, CPU model, memory, Python, SQLite and PostgreSQL versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    engine = make_engine(pg_admin_url)
    try:
        with engine.connect() as connection:
            postgres = connection.execute(sa.text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()
    return {
        "nproc": str(os.cpu_count()),
        "CPU": cpu,
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "Python": platform.python_version(),
        "PostgreSQL": postgres,
        "SQLite": sqlite3.sqlite_version,
        "OS": platform.platform(terse=True),
    }


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident memory now, peak resident memory) of a process, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Profile:
    """py-spy sampling a running process (all its threads; waiting ones only with `idle`) into collapsed
    stacks at `path`."""

    def __init__(self, pid: int, path: Path, rate: int = 100, idle: bool = False) -> None:
        self.path = path
        self._process = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--format", "raw",
             "--output", str(path), "--rate", str(rate), "--nonblocking", *(["--idle"] if idle else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self._process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        self._process.wait(60)


def top_frames(path: Path, keep: Sequence[str] = ("bot/", "storage/", "flows/", "scheduler/"), limit: int = 12,
               ) -> list[tuple[str, float, float]]:
    """From py-spy's collapsed stacks: the functions with the most samples on the stack (inclusive), ours and
    the libraries' alike, with their share of all samples and of samples where they are the innermost frame."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_short(frame) for frame in stack.split(";")[1:]]  # the first frame is the thread
        for frame in set(frames):
            inclusive[frame] += samples
        if frames:
            own[frames[-1]] += samples
    ours = [name for name, _ in inclusive.most_common() if name.partition(" (")[2].startswith(tuple(keep))]
    libraries = [name for name, _ in own.most_common(limit)]
    names = list(dict.fromkeys(ours[:limit] + libraries))
    return [(name, 100 * inclusive[name] / total, 100 * own[name] / total) for name in names] if total else []


def _short(frame: str) -> str:
    """`function (path/to/module.py:123)` -> `function (module path from the project or the library)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", f"{ROOT}/", f"python{sys.version_info.major}.{sys.version_info.minor}/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"
