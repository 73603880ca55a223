"""A lead's Home, the cases set aside as out of time: "Ouvrir maintenant" opens one (it becomes due now),
"Clore sans appel" asks his reason in a modal and closes it through the engine. Both are audited with who
did it, and the Home is published again without the case."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import forms
from bot.listeners.common import case_id_of, case_of, open_modal, submit_to_case, untrusted
from bot.listeners.events import lead_view
from bot.listeners.views.opening import open_now
from bot.views import ids, modals
from flows import commands as cmd
from flows.case import CloseReason
from storage.dashboards import DEFAULT_PERIOD

# What the modal leads to, for the engine's check of who may close before the modal opens.
_CLOSING = cmd.CloseEarly(CloseReason.out_of_time)


def _refresh_home(context: dict[str, Any], client: WebClient, user_id: str) -> None:
    client.views_publish(user_id=user_id, view=lead_view(context["deps"], DEFAULT_PERIOD, client))


@untrusted
def open_out_of_time(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_now(context, case_id_of(context))
    _refresh_home(context, client, body["user"]["id"])


@untrusted
def close_out_of_time(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_modal(client, body, modals.close_out_of_time_modal(case_of(context, _CLOSING)))


def submit_close(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any],
                 client: WebClient) -> None:
    if submit_to_case(ack, context, forms.parse_close_out_of_time(view["state"]["values"]), ids.INPUT_NOTE):
        _refresh_home(context, client, body["user"]["id"])


LISTENERS = {
    ids.OUT_OF_TIME_OPEN: open_out_of_time,
    ids.OUT_OF_TIME_CLOSE: close_out_of_time,
}


def register_views(app: App) -> None:
    app.view(ids.MODAL_CLOSE_OUT_OF_TIME)(submit_close)
