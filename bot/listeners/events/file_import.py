"""Events: the bot's direct messages (its App Home "Messages" tab, `message.im`). A lead (`M3_LEADS`) shares
the Lagon CSV export there and the bot imports it as `m3bot import` does (`bot.imports`, the same use case),
into his agency's workspace only (the request's), then answers with the same report; anyone else is refused
and nothing is imported. A plain message is answered with what the tab is for. The bot's own messages there
(its answers, the files it uploads) are events too: they are ignored.

Bolt acknowledges the event before the listener runs; the download and the import run on the click pool
(`bot.app.WORK_THREADS`), not on a listener thread. A Slack retry of the event is dropped by the middleware
in the process that saw it and, once the import has claimed the event's key, in any other; a retry that
comes earlier is stopped by that claim (`RepeatedRequest`): the file is imported once.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.context import BotDeps
from bot.imports import report_lines, run_import
from bot.listeners.common import say
from bot.slack_files import FileRefused, read_shared_csv
from bot.views.text import escape
from service.imports import RepeatedRequest
from storage.importer import NotALagonExport
from wording import t

log = logging.getLogger(__name__)

# A Lagon export has one row of some 300 bytes per contract: 10 MB is about 30,000 contracts, years of an
# agency's new business. A larger file is not the export; it would also sit whole in memory while each of
# its rows gets a transaction of its own, for many minutes.
MAX_IMPORT_BYTES = 10 * 1024 * 1024
# Past this many rows the import takes seconds (a transaction per row): the lead is told it has started.
LONG_IMPORT_ROWS = 200
# One Slack message lists this many rejected (and conflicting) lines; the rest are counted.
REPORT_ROWS = 50
MAX_FILES = 10  # Slack shares at most 10 files in one message


def direct_message(event: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    if event.get("channel_type") != "im" or event.get("bot_id") or not isinstance(event.get("user"), str):
        return  # another conversation, or the bot's own message (its answers and uploads come back as events)
    subtype, channel = event.get("subtype"), event.get("channel")
    if subtype not in (None, "file_share") or not isinstance(channel, str):
        return  # an edit, a deletion, a join: nothing to answer
    if subtype is None:
        say(client, channel, t("listeners.import.hint"))
        return
    if not context.get("is_lead"):
        say(client, channel, t("listeners.import.lead_only"))
        return
    deps: BotDeps = context["deps"]
    shared = event.get("files") if isinstance(event.get("files"), list) else []
    files = [f["id"] for f in shared if isinstance(f, dict) and isinstance(f.get("id"), str)]
    key = context.get("request_key")
    for position, file_id in enumerate(files[:MAX_FILES]):
        # The event's own key names its first file's import: once that import has begun (its claim committed)
        # the middleware drops a Slack retry of the event in any process, before anything is downloaded.
        file_key = f"{key}:{file_id}" if key and position else key
        deps.work.submit(_import_file, deps, context["workspace_id"], client, channel, file_id, file_key)


def _import_file(deps: BotDeps, workspace: int, client: WebClient, channel: str, file_id: str,
                 request_key: str | None) -> None:
    """Import the file into `workspace`, the agency of the lead who shared it, and answer him in `channel`."""
    try:
        shared = read_shared_csv(client, file_id, api_url=deps.settings.slack_api_url, max_bytes=MAX_IMPORT_BYTES)

        def started(done: int, total: int) -> None:
            if done == 1 and total > LONG_IMPORT_ROWS:
                say(client, channel, t("listeners.import.started", file=escape(shared.name), rows=total))

        report = run_import(deps.settings, deps.engine, workspace, shared.data, shared.name,
                            request_key=request_key, progress=started)
    except RepeatedRequest:
        log.info("Slack retry of a shared file already imported, dropped")
        return
    except FileRefused as refusal:
        say(client, channel, refusal.text)
        return
    except NotALagonExport as error:
        say(client, channel, t("listeners.import.refused", reason=escape(error.reason)))
        return
    except Exception as error:  # nobody else sees a pool's errors; by type only: a database error quotes its row
        log.error("import of a shared file failed: %s", type(error).__name__)
        say(client, channel, t("listeners.import.failed"))
        return
    lines = report_lines(report, deps.settings, out_of_time_hint=t("listeners.import.out_of_time_hint"),
                         max_rows=REPORT_ROWS)
    say(client, channel, "\n".join(escape(line) for line in lines))


def register(app: App) -> None:
    app.event("message")(direct_message)
