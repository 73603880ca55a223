"""Counts the SQL statements a bot process runs for its requests, delivery apart.

A SQLAlchemy `before_cursor_execute` listener on the engine, filtered by thread: the outbox's delivery
threads and the thread that created the counter (the test or benchmark itself, reading state between
clicks) are not counted, every other thread (HTTP, listener, click pool) is.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.outbox_delivery import THREAD_PREFIX


class StatementCounter:
    """`with StatementCounter(engine) as counter: ...; counter.count` (statements since the last `reset`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self._own = threading.get_ident()
        self._lock = threading.Lock()

    def _seen(self, *_: Any) -> None:
        thread = threading.current_thread()
        if thread.ident == self._own or thread.name.startswith(THREAD_PREFIX):
            return
        with self._lock:
            self.count += 1

    def reset(self) -> int:
        """The count so far, then zero."""
        with self._lock:
            count, self.count = self.count, 0
        return count

    def __enter__(self) -> StatementCounter:
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)
