"""Text from the import, an agent or a client is never markup: every message and modal the bot builds, rendered
with hostile names, values and notes, has exactly the mentions, links and formatting it has with harmless
ones. A client named "<!channel>" notifies nobody, "<https://evil|x>" is no link and "*Bob*" is not bold."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.views import ids, modals
from bot.views.card import closing_notice, status_card
from bot.views.help import refusal
from bot.views.home import agent_home, lead_home
from bot.views.lists import CaseRow, my_cases
from bot.views.reminders import action_reminder, callback_reminder, digest_message
from bot.views.stats import stats_message
from bot.views.steps import step_message
from bot.views.text import ZERO_WIDTH_SPACE, clip, escape, mention
from flows.case import ActionKind, Case, ClientType, Need, State
from service.digest import AgentLoad, Digest
from storage.dashboards import AgentToday, Dashboard, Figures, Period
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT as AGENT_OF_HARNESS
from tests.bot.test_views import _walk
from tests.conftest import client_file, contract
from tests.flows.factories import AGENT, NOW, TODAY, case_at
from tests.support.opening import open_and_post

HOSTILE = ["<!channel>", "<!here>", "<!everyone>", "<https://evil.example|Votre agence>", "<mailto:a@b.fr|x>",
           "*bold*", "_italic_", "~strike~", "`code`", "```bloc```", "<@U123>", "<#C123>", "<!subteam^S1>",
           "&amp;", "&lt;!channel&gt;", "> citation", "\n>>> tout", "a*b_c~d`e", "&", "<", ">"]
# Any other text, the zero-width space aside (the marker of our escaping).
OTHER = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=ZERO_WIDTH_SPACE), max_size=12)
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), OTHER), min_size=1, max_size=4).map("".join).filter(str.strip)
MENTION_OF_OURS = "U0AGENT"


def dress(case: Case, value: str) -> Case:
    """`case` with every text that comes from the import, an agent or a client set to `value`."""
    client = replace(case.client, civility=value, first_name=value, last_name=value, email=value, phone=value,
                     address=value, activity=value)
    numbers = {c.number: f"{value}-{n}" for n, c in enumerate(case.contracts)}
    contracts = [replace(c, number=numbers[c.number]) for c in case.contracts]
    checks = {numbers[k]: replace(v, contract_number=numbers[k]) for k, v in case.contract_checks.items()}
    profile = {f: replace(p, old_value=value, new_value=value) for f, p in case.profile.items()}
    protections = {k: replace(p, insurer=value if p.insurer else None, reason=value if p.reason else None)
                   for k, p in case.protections.items()}
    needs = [replace(n, text=value) for n in case.needs] or [Need(value, NOW, AGENT)]
    actions = [replace(a, reason=value) for a in case.actions]
    return replace(case, client=client, contracts=contracts, contract_checks=checks, profile=profile,
                   protections=protections, needs=needs, actions=actions, close_note=value)


def rendered(value: str) -> list[dict[str, Any]]:
    """Every message kind and modal, each as its Slack payload, with `value` in every free text."""
    names = {AGENT: value, f"{value}@agence.fr": value}  # the seller has no display name: his e-mail's local part
    out: list[Any] = []
    for state in State:
        case = dress(case_at(ClientType.tns, 3, state), value)
        case.seller = f"{value}@agence.fr"
        out += [status_card(case, names), step_message(case, names, TODAY, state=state)]
        if state is State.closed:
            out.append(closing_notice(case, names))
    case = dress(case_at(ClientType.tns, 3, State.action_plan), value)
    action = case.actions[0]
    out += [callback_reminder(case, who=mention(None, AGENT, names), callback_at=NOW, unanswered=3, offer_unreachable=True),
            callback_reminder(case, who=mention(MENTION_OF_OURS, AGENT, names), callback_at=NOW, unanswered=0,
                              offer_unreachable=False),
            action_reminder(case, action, who=mention(MENTION_OF_OURS, AGENT, names), overdue=False),
            action_reminder(case, action, who=mention(None, AGENT, names), overdue=True),
            digest_message(Digest(TODAY, [1], {"preparation": 1}, 1, 1, [AgentLoad(AGENT, 1, 1, 1), AgentLoad(None)]),
                           names),
            refusal(value)]
    rows = [CaseRow(1, value, State.preparation, TODAY, "https://slack.test/t/1"),
            CaseRow(2, value, State.action_plan, TODAY - timedelta(days=1))]
    out.append(my_cases(rows, TODAY))
    out.append(agent_home(rows, AgentToday(frozenset({1}), frozenset({2}), {2: TODAY}, {"calls": 1})))
    figures = Figures(Counter({("opened",): 2, ("elsewhere", "pj", value): 1, ("elsewhere", "gav", None): 1}))
    dashboard = Dashboard(Period.preset("month", TODAY), TODAY, figures, {AGENT: figures, None: figures},
                          {"recommandation": figures})
    out += [lead_home(dashboard, names), stats_message(dashboard, names)]
    contract = case.contracts[0].number
    out += [modals.profile_field_modal(case, "email"), modals.missing_piece_modal(case, contract),
            modals.elsewhere_modal(case, "pj"), modals.action_modal(case, ActionKind.rdv, None, commercial=True),
            modals.callback_modal(case, 15), modals.close_early_modal(case), modals.need_modal(case),
            modals.priority_modal(case, "gav"), modals.reassign_modal(case, None),
            modals.open_case_modal([("1", value), ("2", value)])]
    return [m if isinstance(m, dict) else {"text": {"type": "mrkdwn", "text": m.text}, "blocks": m.blocks} for m in out]


def markup(payload: dict[str, Any]) -> Counter:
    """What Slack reads as markup in the payload's mrkdwn: its <…> tokens (mentions, links), raw "&", and the
    formatting marks not neutralised by a zero-width space."""
    found: Counter = Counter()
    for node in _walk(payload):
        if node.get("type") == "mrkdwn":
            text = node["text"]
            found.update(re.findall(r"<[^>]*>", text))
            found.update("raw &" for _ in re.finditer(r"&(?!amp;|lt;|gt;)", text))
            found.update(re.findall(rf"[*_~`](?!{ZERO_WIDTH_SPACE})", text))
    return found


def escaped_plain_texts(payload: dict[str, Any], value: str) -> list[str]:
    """plain_text fields our escaping touched: Slack would show its entities and marks to the agent."""
    marks = [ZERO_WIDTH_SPACE] + [entity for entity in ("&lt;", "&gt;") if entity not in value]
    return [node["text"] for node in _walk(payload)
            if node.get("type") == "plain_text" and any(mark in node["text"] for mark in marks)]


HARMLESS = rendered("Benin")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=hostile)
def test_hostile_text_adds_no_mention_link_or_formatting_to_any_message(value: str) -> None:
    for harmless, payload in zip(HARMLESS, rendered(value), strict=True):
        found, ours = markup(payload), markup(harmless)
        assert found == ours, f"markup not ours: {found - ours} in {payload}"
        assert not escaped_plain_texts(payload, value), f"escaped text in a plain_text field: {payload}"


def test_a_cut_never_leaves_half_an_escape() -> None:
    for text in ("*" * 10, "&" * 10, "<" * 10, "a_" * 10):
        cut = clip(escape(text), 9)
        assert not re.search(rf"[*_~`](?!{ZERO_WIDTH_SPACE})|&(?!amp;|lt;|gt;)", cut.removesuffix("…")), cut


@time_machine.travel(datetime(2026, 12, 1, 9, 30, tzinfo=UTC), tick=True)  # a legal calling time
def test_a_refusal_quoting_an_imported_contract_number_mentions_nobody(harness, factory) -> None:
    # Through the whole bot: the refusal names the contracts not answered yet, as the import spelled them.
    case_id = factory.case(client_file(), [contract(number="<!channel> *AUTO*", seller=AGENT_OF_HARNESS[1])],
                           opened=False, agent=AGENT_OF_HARNESS[1])
    open_and_post(harness.engine, harness.settings, case_id)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    call.profile()
    call.click("step:contracts", ids.CONTRACTS_VALIDATE)

    (refusal,) = call.ephemerals()
    assert "&lt;!channel&gt;" in refusal and "<!channel>" not in refusal
    assert f"*{ZERO_WIDTH_SPACE}AUTO*{ZERO_WIDTH_SPACE}" in refusal
