"""A lead's RGPD requests from Slack, as `m3bot rgpd export` and `m3bot rgpd erase` carry them out: "Demande
RGPD d'un client" (his App Home) opens a modal asking the client's number, the right (access or erasure) and,
for an erasure, an explicit confirmation. The use cases are `service.rgpd`'s, which record in the audit trail
who asked (the lead) and what was done.

The modal's values are checked before the acknowledgement, so that an unknown client is shown under his
number; the request itself runs on the click pool once acknowledged. The access export is delivered as a JSON
file in the lead's direct message with the bot, the erasure answered there with what was erased. Anyone
else is refused, whether he clicked a forged button or submitted a forged modal, and nothing is done.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import forms
from bot.context import BotDeps
from bot.dispatch import actor_label, tell
from bot.listeners.common import open_modal, say, untrusted
from bot.views import ids, modals
from service.rgpd import EraseClient, ExportClient, erase_client, export_client
from storage import rgpd
from wording import t

log = logging.getLogger(__name__)


@untrusted
def rgpd_request(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    if not context.get("is_lead"):
        tell(context, body, t("listeners.rgpd.lead_only"))
        return
    open_modal(client, body, modals.rgpd_modal())


def _client_known(deps: BotDeps, number: str) -> bool:
    """Whether the request's agency has a client by that number: another agency's is not found."""
    with deps.read() as session:
        try:
            rgpd.find_client(session, number)
        except rgpd.ClientNotFound:
            return False
    return True


def submit_rgpd(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any],
                client: WebClient) -> None:
    deps: BotDeps = context["deps"]
    if not context.get("is_lead"):
        return ack(response_action="errors", errors={ids.INPUT_CLIENT_NUMBER: t("listeners.rgpd.lead_only")})
    request = forms.parse_rgpd(view["state"]["values"])
    if isinstance(request, dict):
        return ack(response_action="errors", errors=request)
    if not _client_known(deps, request.number):
        return ack(response_action="errors", errors={ids.INPUT_CLIENT_NUMBER: t("rgpd.cli.not_found",
                                                                                number=request.number)})
    ack()
    deps.work.submit(_carry_out, deps, client, body["user"]["id"], request, actor_label(context))


def _carry_out(deps: BotDeps, client: WebClient, user: str, request: forms.RgpdRequest, actor: str) -> None:
    """The request, through the service layer; its outcome told in the lead's DM with the bot."""
    try:
        if request.right == "access":
            data = export_client(ExportClient(request.number), deps.uow(actor))
            channel = client.conversations_open(users=user)["channel"]["id"]
            client.files_upload_v2(channel=channel, content=json.dumps(data, ensure_ascii=False, indent=2).encode(),
                                   filename=t("listeners.rgpd.file_name", number=request.number),
                                   title=t("listeners.rgpd.file_title", number=request.number),
                                   initial_comment=t("listeners.rgpd.exported", number=request.number))
            return
        erased = erase_client(EraseClient(request.number), deps.uow(actor))
        text = t("listeners.rgpd.erased", number=request.number, cases=len(erased.case_ids),
                 ids=", ".join(map(str, erased.case_ids)) or "—")
    except rgpd.ClientNotFound:  # erased or renumbered since the modal was checked
        text = t("rgpd.cli.not_found", number=request.number)
    except Exception as error:  # nobody else sees a pool's errors; by type only: a database error quotes its row
        log.error("RGPD %s request from Slack failed: %s", request.right, type(error).__name__)
        text = t("listeners.rgpd.failed")
    say(client, user, text)


LISTENERS = {
    ids.RGPD: rgpd_request,
}


def register_views(app: App) -> None:
    app.view(ids.MODAL_RGPD)(submit_rgpd)
