"""The two servers the latency benchmark compares, each in a process of its own: `python -m bench.server MODE`.

- `ours`: the bot as `m3bot run` serves it in HTTP mode (`bot.runner`): agents matched, the Bolt app of
  `bot.app.create_app` with its outbox delivery at production settings, behind waitress through
  `bot.runner.serve_http`, logging at INFO. The scheduler `m3bot run` also starts is left out: the filled
  databases have no reminder history, so it would fire thousands of stale reminders during the run; its
  own work is measured by `bench.delivery`;
- `bare`: a Bolt app behind the same `serve_http` whose listeners only acknowledge: what any Bolt app costs
  on this machine, the floor ours is compared with.

`M3_BENCH_CLOCK` (ISO date-time) starts the process's clock there and lets it tick, so that the calling
hours and the request signatures agree with the load driver's travelled clock. `ServerProcess` starts one
and stops it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0  # a cold start on a loaded 2-core machine: imports, migration, agents matched


def bare_app(settings):
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from config.settings import reveal

    # Bolt asks auth.test once, on the first request: the same stand-in answers both servers.
    client = WebClient(base_url=settings.slack_api_url, token=reveal(settings.slack_bot_token))
    app = App(name="bare", signing_secret=reveal(settings.slack_signing_secret), client=client,
              token_verification_enabled=False)

    def only_ack(ack: Ack) -> None:
        ack()

    everything = re.compile(".*")
    app.action(everything)(only_ack)
    app.view(everything)(only_ack)
    app.command(everything)(only_ack)
    return app


def main() -> None:
    if clock := os.environ.get("M3_BENCH_CLOCK"):
        import time_machine

        time_machine.travel(datetime.fromisoformat(clock), tick=True).start()
    from bot.runner import serve_http
    from config.settings import Settings

    settings = Settings(_env_file=None)
    app = ours_app(settings) if sys.argv[1] == "ours" else bare_app(settings)
    _, thread = serve_http(app, "127.0.0.1", settings.port)
    thread.join()


def ours_app(settings):
    """The bot's app, set up as `bot.runner.run` sets it up, its outbox delivery started."""
    import logging

    from bot.agents import match_agents
    from bot.app import create_app, deps_of, web_client
    from storage.db import make_engine, migrate
    from storage.workspaces import resolve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(settings.database_url)
    migrate(engine)
    client = web_client(settings)
    match_agents(engine, resolve(engine, None), client)
    app = create_app(settings, engine, client=client)
    deps_of(app).deliverer.start()
    return app


class ServerProcess:
    """One server process; `url` is where the Slack stand-in posts to it."""

    def __init__(self, mode: str, env: dict[str, str], log: IO[str]) -> None:
        self.mode = mode
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, clock: datetime | None = None) -> str:
        port = _free_port()
        env = {**self.env, "PORT": str(port)} | ({"M3_BENCH_CLOCK": clock.isoformat()} if clock else {})
        self.process = subprocess.Popen([sys.executable, "-m", "bench.server", self.mode], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.mode} server did not start; see its log")
            time.sleep(0.2)
        self.url = f"http://127.0.0.1:{port}/slack/events"
        return self.url

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    main()
