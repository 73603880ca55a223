"""Button listeners, one function per control of `bot.views.ids`, registered here."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.actions import admin, agency_settings, call, lead, out_of_time, plan, rebound, rgpd
from bot.views.ids import pattern


def register(app: App) -> None:
    for module in (call, admin, rebound, plan, out_of_time, lead, agency_settings, rgpd):
        for action_id, listener in module.LISTENERS.items():
            app.action(pattern(action_id))(listener)
    out_of_time.register_views(app)  # its modal belongs with its buttons
    lead.register_views(app)
    agency_settings.register_views(app)
    rgpd.register_views(app)
