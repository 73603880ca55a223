"""Reading a CSV file a user shared with the bot in Slack.

`files.info` (scope `files:read`) gives the file's name, type, size and private URL: the event that brought
it may carry a partial file object (`file_access: check_file_info`), and the bot trusts Slack's answer,
not the event. The bytes come from `url_private_download` with the bot token in an `Authorization: Bearer`
header (slack_sdk has no download helper): only from Slack's file host (or the configured API's own, a
stand-in), and never forwarded on a redirect, so that the token cannot be sent anywhere else. Without a
valid token Slack answers its sign-in page (HTML, status 200), which is refused as unreadable.

Every refusal is a French sentence for the user (`FileRefused`); logs name the Slack error, never the file.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from wording import t

log = logging.getLogger(__name__)

SLACK_FILES = "https://files.slack.com/"
DOWNLOAD_TIMEOUT = 60  # seconds; the bound on the size keeps a download well inside it
MEGABYTE = 1024 * 1024


class FileRefused(Exception):
    """The shared file cannot be imported: `text` says why, in French."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True)
class SharedFile:
    name: str
    data: bytes


def _allowed(url: object, api_url: str) -> bool:
    own = api_url.rstrip("/").removesuffix("/api") + "/"
    return isinstance(url, str) and url.startswith((SLACK_FILES, own))


def read_shared_csv(client: WebClient, file_id: str, *, api_url: str, max_bytes: int) -> SharedFile:
    """The name and bytes of the CSV file `file_id`. Raises `FileRefused` for another type of file, one
    larger than `max_bytes`, or one Slack does not give."""
    try:
        info = client.files_info(file=file_id)["file"]
    except SlackApiError as error:
        log.warning("files.info failed: %s", error.response.get("error"))
        raise FileRefused(t("listeners.import.unreadable")) from error
    name = str(info.get("name") or "")
    if info.get("filetype") != "csv" and not name.lower().endswith(".csv"):
        raise FileRefused(t("listeners.import.not_csv"))
    if int(info.get("size") or 0) > max_bytes:
        raise FileRefused(t("listeners.import.too_large", max=max_bytes // MEGABYTE))
    url = info.get("url_private_download") or info.get("url_private")
    if not _allowed(url, api_url):
        log.warning("shared file refused: its download URL is not on Slack's file host")
        raise FileRefused(t("listeners.import.unreadable"))
    request = urllib.request.Request(url)
    request.add_unredirected_header("Authorization", f"Bearer {client.token}")  # dropped on any redirect
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as answer:  # noqa: S310 (host checked)
            html = answer.headers.get_content_type() == "text/html"
            data = answer.read(max_bytes + 1)
    except (urllib.error.URLError, OSError) as error:
        log.warning("shared file not downloaded: %s", type(error).__name__)
        raise FileRefused(t("listeners.import.unreadable")) from error
    if html:  # Slack's sign-in page: the token was not taken
        log.warning("shared file not downloaded: Slack answered its sign-in page")
        raise FileRefused(t("listeners.import.unreadable"))
    if len(data) > max_bytes:
        raise FileRefused(t("listeners.import.too_large", max=max_bytes // MEGABYTE))
    return SharedFile(name, data)
