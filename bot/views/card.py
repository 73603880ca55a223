"""The status card: the parent message of a case's thread, updated in place at every step so that a lead
reads the channel like a board. Channel members all see it: it names the client and his contracts, and
nothing else of his file (no phone, e-mail or address).

Two sections of fields (Slack allows ten per section): who and what (contracts, origin, seller, agent, M+3
date, step), then where the call stands (booked callback, attempts against the legal cap, the consent once
asked, the next action of the plan). A callback or an action whose time has passed carries the overdue mark,
as the lead's Home counts them late; the scheduler's reminder that comes due refreshes the card then.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import Message, button, buttons, context, header, message, section
from bot.views.text import AGENCY_TZ, action_line, client_clock, client_name, clip, day, escape, label, mention, moment, person, t
from flows.case import Action, ActionStatus, Agreement, Case, CloseReason, State
from flows.engine import active_actions, attempts_in_window
from flows.rules import Rules
from flows.script import product_name

FIELD_TEXT = 2000  # per section field
# The card lists at most this many actions; the thread's action plan message has them all.
CARD_ACTIONS = 20
# The legal defaults, for callers without the agency's settings (the views' tests).
DEFAULT_RULES = Rules()


def _field(name: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(f"*{t(f'card.{name}')}*\n{value}", FIELD_TEXT))


def status_card(case: Case, names: Mapping[str, str], *, now: datetime | None = None,
                rules: Rules = DEFAULT_RULES, mentions: Mapping[str, str] | None = None) -> Message:
    """The card of a case at `now` (the current time by default): `names` maps agents' e-mails to display
    names, `mentions` (when given) to Slack user IDs, to show the agent in charge as a mention. It shows only
    what changes with the step, the agent, the callback, an attempt, the consent, the plan, the closing or a
    passed due time (the checklist count is on the step's message), so that most answers inside a step do not
    edit it."""
    now = now or datetime.now(UTC)
    contracts = "\n".join(f"{escape(product_name(c.product))} n° {escape(c.number)}" for c in case.contracts)
    step = label("state", case.state.value)
    blocks: list[Block] = [
        header(t("card.title", client=client_name(case))),
        SectionBlock(
            fields=[
                _field("contracts", contracts),
                _field("origin", label("origin", case.origin.value)),
                _field("seller", person(case.seller, names)),
                _field("agent", mention((mentions or {}).get(case.agent or ""), case.agent, names)),
                _field("m3_date", day(case.m3_date)),
                _field("step", step),
            ]
        ),
        SectionBlock(fields=_progress_fields(case, now, rules)),
    ]
    if case.client.opposition_at is not None:
        blocks.append(section(t("card.opposition", since=day(case.client.opposition_at))))
    if case.state is State.closed:
        blocks += _closing(case, names)
    # A closed case offers its reopening (leads only, the engine refuses anyone else), an open one its reassignment.
    controls = [button(t("card.reopen"), ids.REOPEN, encode(case.id)) if case.state is State.closed
                else button(t("card.reassign"), ids.REASSIGN, encode(case.id))]
    blocks.append(buttons([*controls, _opposition_button(case)]))
    return message(t("card.text", client=escape(client_name(case)), step=step), blocks)


# While the client is being reached, a booked callback is the next thing to do; once he answered, it is done.
_CALLBACK_STATES = (State.scheduled_callback, State.contact_attempt)


def _progress_fields(case: Case, now: datetime, rules: Rules) -> list[MarkdownTextObject]:
    """Where the call stands: the callback, the attempts, the consent once asked, the plan's next action."""
    today = now.astimezone(ZoneInfo(AGENCY_TZ)).date()
    fields = []
    if case.state in _CALLBACK_STATES and case.callback_at is not None:
        fields.append(_field("callback", _late(_callback(case), case.callback_at < now)))
    window = attempts_in_window((a.at for a in case.client_attempts), now, rules)
    fields.append(_field("attempts", t("card.attempts_count", count=len(window), max=rules.max_attempts,
                                       days=rules.attempts_window_days)))
    if case.agreement is not None:
        fields.append(_field("consent", _consent(case.agreement)))
    action = next_action(case)
    if action is not None:
        fields.append(_field("next_action", _late(t("card.next_action_line", kind=label("plan_kind", action.kind.value),
                                                    date=day(action.due_on)), action.due_on < today)))
    return fields


def next_action(case: Case) -> Action | None:
    """The plan's action still to do that comes first."""
    todo = [a for a in case.actions if a.status is ActionStatus.todo]
    return min(todo, key=lambda a: a.due_on, default=None)


def _callback(case: Case) -> str:
    """The booked time, and the client's own clock when his time zone reads it otherwise."""
    when = moment(case.callback_at)
    client = client_clock(case.callback_at, case.client.postcode)
    return t("card.callback_client", when=when, time=client[0], place=client[1]) if client else when


def _consent(agreement: Agreement) -> str:
    if agreement.withdrawn_at is not None:
        return t("card.consent_status.withdrawn", date=day(agreement.withdrawn_at))
    status = "given" if agreement.agreed else "declined"
    return t(f"card.consent_status.{status}", date=day(agreement.at))


def _late(value: str, late: bool) -> str:
    return t("card.overdue", value=value) if late else value


def _opposition_button(case: Case) -> ButtonElement:
    """Record the client's opposition to commercial calls, or (leads only, at the client's request) lift it:
    the flag is the client's, so it is offered on every case, closed ones too."""
    if case.client.opposition_at is None:
        return button(label("buttons", "opposition_set"), ids.OPPOSITION, encode(case.id, on=True))
    return button(label("buttons", "opposition_lift"), ids.OPPOSITION, encode(case.id, on=False))


def closing_notice(case: Case, names: Mapping[str, str]) -> Message:
    """Posted in the thread when the case closes: date, reason, note and the dated action plan."""
    text = t("card.closed_text", client=escape(client_name(case)))
    return message(text, [header(client_name(case)), *_closing(case, names)])


def _closing(case: Case, names: Mapping[str, str]) -> list[Block]:
    reason = label("close_reason", (case.close_reason or CloseReason.completed).value)
    when = day(case.closed_at) if case.closed_at else ""
    blocks: list[Block] = [section(t("card.closed", date=when, reason=reason))]
    if case.close_note:
        blocks.append(context(escape(case.close_note)))
    actions = active_actions(case)
    if actions:
        lines = [f"• {action_line(a, names)}" for a in sorted(actions, key=lambda a: a.due_on)[:CARD_ACTIONS]]
        if len(actions) > CARD_ACTIONS:
            lines.append(t("more", count=len(actions) - CARD_ACTIONS))
        blocks.append(section(f"*{t('plan.title')}*\n" + "\n".join(lines)))
    return blocks
