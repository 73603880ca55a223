"""The bot's notifier, for real: the outbox rows a tick leaves for Slack, in the tick's own transaction."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from bot.notifier import SlackNotifier
from bot.payloads import decode
from bot.views import ids
from flows.case import ActionKind
from service.reminders import ACTION, CALLBACK, FIRED, MORNING
from service.ticker import Ticker
from storage.tables import Outbox
from tests.scheduler.clock import paris, rows, run
from tests.scheduler.conftest import AGENT, add_agents


def _buttons(payload: dict) -> list[tuple[str, tuple]]:
    found = []
    for block in payload["blocks"]:
        elements = block.get("elements", []) + ([block["accessory"]] if "accessory" in block else [])
        found += [(e["action_id"], decode(e["value"])) for e in elements if e.get("type") == "button"]
    return found


def test_reminders_leave_their_slack_messages_in_the_outbox(engine, settings, cases):
    add_agents(engine)
    start = paris(9, 8)
    callback = cases.callback(paris(9, 11), now=start)
    plan, (action_id,) = cases.with_actions([(ActionKind.devis, date(2028, 5, 9))], now=start)
    due = cases.unopened(date(2028, 5, 9))

    run(Ticker(engine, SlackNotifier(settings), settings), start, paris(9, 11))

    with Session(engine) as session:
        queued = [(r.method, r.case_id, r.dedupe_key, r.payload) for r in session.exec(select(Outbox).order_by(Outbox.id))]
    reminder_id = {r.kind: r.id for r in rows(engine, FIRED)}
    # Where each row goes: its channel, or the agent whose morning list it is (his DM, found at delivery).
    assert [(method, case_id, key, payload.get("role"), payload.get("channel") or payload["agent"])
            for method, case_id, key, payload in queued] == [
        # 09:00: the action's owner by direct message, then the morning: the case opened, the leads' digest.
        ("chat.postMessage", plan, f"reminder:{reminder_id[ACTION]}", None, "UOWNER"),
        ("message.upsert", due, None, "step:preparation", "CM3"),
        ("message.upsert", due, None, "card", "CM3"),
        ("m3.morning_list", None, f"reminder:{reminder_id[MORNING]}:morning:{AGENT}", None, AGENT),
        ("chat.postMessage", None, f"reminder:{reminder_id[MORNING]}:ULEAD1", None, "ULEAD1"),
        ("chat.postMessage", None, f"reminder:{reminder_id[MORNING]}:ULEAD2", None, "ULEAD2"),
        # 10:55: the callback's reminder in the case's thread; 11:00: the case's messages refreshed.
        ("message.upsert", callback, f"reminder:{reminder_id[CALLBACK]}", f"reminder:{reminder_id[CALLBACK]}", "CM3"),
        ("message.upsert", callback, None, "step:contact", "CM3"),
        ("message.upsert", callback, None, "card", "CM3"),
    ]
    action, morning, digest, reminder = queued[0][3], queued[3][3], queued[4][3], queued[6][3]
    assert [case_id for case_id, _client, _date in morning["cases"]] == [due]
    assert _buttons(action) == [(f"{ids.ACTION_DONE}:{action_id}", (plan, {"i": action_id}))]
    assert "<@UOWNER>" in action["blocks"][0]["text"]["text"]
    assert digest["text"] == "Point M+3 du 9 mai 2028"
    assert "Dossiers ouverts ce matin* : 1" in digest["blocks"][1]["text"]["text"]
    assert _buttons(reminder) == [(ids.CALLBACK_RESUME, (callback, {}))]
    assert "<@UAGENT>" in reminder["blocks"][0]["text"]["text"] and "11:00" in reminder["text"]
