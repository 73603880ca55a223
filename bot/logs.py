"""Logging set-up of the long-running processes: plain lines, or one JSON object per line (`LOG_FORMAT=json`)
for log collectors. Either way the messages are the same ones, which never carry personal data."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                             rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def configure(log_format: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    # Like basicConfig: a process (or a test runner) that already set logging up keeps its own.
    logging.basicConfig(level=logging.INFO, handlers=[handler])
