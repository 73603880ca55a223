"""Every Slack listener, registered in one place: actions (buttons), views (modal submissions),
commands (`/m3`) and events (App Home)."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, events, views


def register(app: App) -> None:
    actions.register(app)
    views.register(app)
    commands.register(app)
    events.register(app)
