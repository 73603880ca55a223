"""The bot as a real process, for the tests that kill it: `python -m tests.support.bot_process`.

It reads the product's settings from the environment (DATABASE_URL, SLACK_API_URL, ...), builds the app as
`m3bot run` does (`create_app`, `serve_http`, the outbox deliverer) with the test-sized delivery numbers,
prints `PORT <n>` once it listens, and serves until killed. Two test-only variables:
`M3_TEST_CLOCK` (ISO date-time: the process's clock starts there and ticks, like `time_machine.travel`)
and `M3_TEST_LEASE_SECONDS` (the outbox lease: a row a killed process held is claimable again after it).

`BotProcess` starts, SIGKILLs and restarts it from the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0  # a cold start imports Bolt, SQLAlchemy and the app on a busy 2-core machine


def main() -> None:
    import time_machine

    from storage import outbox

    if clock := os.environ.get("M3_TEST_CLOCK"):
        time_machine.travel(datetime.fromisoformat(clock), tick=True).start()
    if lease := os.environ.get("M3_TEST_LEASE_SECONDS"):
        outbox.LEASE = timedelta(seconds=float(lease))

    from bot.app import create_app, delivery_client
    from bot.outbox_delivery import OutboxDeliverer
    from bot.runner import serve_http
    from config.settings import Settings
    from storage.db import make_engine

    settings = Settings(_env_file=None)
    engine = make_engine(settings.database_url)
    deliverer = OutboxDeliverer(engine, delivery_client(settings, timeout=1), poll_seconds=0.2, backoff_base=0.05,
                                backoff_cap=0.5)
    app = create_app(settings, engine, deliverer=deliverer)
    server, thread = serve_http(app, "127.0.0.1", 0, engine=engine)
    deliverer.start()
    print(f"PORT {server.effective_port}", flush=True)
    thread.join()


class BotProcess:
    """One bot process at a time; `url` is where Slack posts to it. Its stderr (logs) goes to `log`."""

    def __init__(self, env: dict[str, str], log: IO[str]) -> None:
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.log = log
        self.url: str | None = None
        self.kills = 0
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        # The process's clock starts at the test's (travelled or real): signatures and calling hours agree.
        env = {**self.env, "M3_TEST_CLOCK": datetime.now(UTC).isoformat()}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.bot_process"], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=self.log,
        )
        line = _read_line(self._process.stdout, READY_TIMEOUT)
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the bot process did not start (exit code {self._process.poll()})")
        self.url = f"http://127.0.0.1:{line.split()[1]}/slack/events"
        return self.url

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or an OOM kill."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self.kills += 1
        self.wait()

    def wait(self) -> None:
        if self._process is not None:
            self._process.wait(10)
            self._process.stdout.close()

    def restart(self) -> str:
        self.kill()
        return self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
        self.wait()


def _read_line(stream: IO[str], timeout: float) -> str:
    """The first line of `stream`, or "" when none comes within `timeout` seconds."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines else ""


if __name__ == "__main__":
    main()
