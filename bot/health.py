"""`/healthz` and `/readyz` for load balancers and orchestrators, in front of Bolt's WSGI handler.

Liveness says the process serves HTTP. Readiness says this process can do its work: its database answers and
its schema is at the newest migration. It deliberately ignores Slack: one workspace's revoked token or a
Slack outage must not take every process out of the load balancer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.db import schema_is_current

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def readiness(engine: Engine) -> tuple[bool, str]:
    """(ready, reason): the reason is a short code, safe to log and to show."""
    try:
        if not schema_is_current(engine):
            return False, "schema not migrated"
    except sa.exc.DBAPIError as error:
        return False, f"database unreachable ({type(error.orig).__name__})"
    return True, "ok"


def with_probes(application: WsgiApp, engine: Engine) -> WsgiApp:
    """Answer GET /healthz and GET /readyz; hand every other request to `application`."""

    def probes(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or path not in ("/healthz", "/readyz"):
            return application(environ, start_response)
        ready, reason = (True, "ok") if path == "/healthz" else readiness(engine)
        if not ready:
            log.warning("not ready: %s", reason)
        body = reason.encode()
        start_response("200 OK" if ready else "503 Service Unavailable",
                       [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    return probes
