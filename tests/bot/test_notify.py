"""Who hears of a case, over the whole bot: an agent imported while the bot runs is matched when his first case
is queued (one paced `users.lookupByEmail`, cached on his row), the card's edits mention him, each morning he
gets one direct message listing his new cases with links to their threads (never one ping per card), a lead's
reassignment mentions the new agent in the thread, and an e-mail Slack does not know is told to the leads once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import time_machine
from sqlmodel import Session, select

from bot.channel import permalink
from bot.notifier import SlackNotifier
from bot.views import ids
from service.ticker import Ticker
from storage.tables import Agent, Outbox
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, COLLEAGUE
from tests.bot.test_call_scenarios import open_case
from tests.conftest import client_file, contract
from wording import t

NEWCOMER = ("U0NEW", "nouveau@agence.fr", "Noé Nouveau")
CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 10:30 in Paris
MORNING = datetime(2026, 12, 2, 8, 5, tzinfo=UTC)  # Wednesday 9:05 in Paris: the agency's opening has run


def agent_row(harness, email: str) -> Agent:
    with Session(harness.engine) as session:
        return session.exec(select(Agent).where(Agent.email == email)).one()


def imported_agent(harness, user: tuple[str, str, str] | None, email: str) -> None:
    """An agent the import brought while the bot runs: known by e-mail only; `user` is his Slack account."""
    if user is not None:
        harness.slack.add_user(user[0], user[1], user[2].split()[0].lower(), user[2])
    with Session(harness.engine) as session, session.begin():
        session.add(Agent(email=email))


def lookups(harness) -> list[str]:
    return [call.args.get("email") for call in harness.slack.calls_to("users.lookupByEmail")]


def test_an_agent_imported_while_the_bot_runs_is_matched_by_his_first_case_and_mentioned_on_its_edits(harness, factory):
    imported_agent(harness, NEWCOMER, NEWCOMER[1])
    with time_machine.travel(CALL_TIME, tick=True):
        case_id = open_case(harness, factory, agent=NEWCOMER[1], number="N1", contract_number="N-1")
        harness.drain()
        assert agent_row(harness, NEWCOMER[1]).slack_user_id == NEWCOMER[0]
        assert lookups(harness) == [NEWCOMER[1]]  # the seller was matched already: not asked
        call = CallDriver(harness, case_id, NEWCOMER[0])
        # The card's first post names him (as the import knew him: his e-mail's local part), no mention: one
        # would ping him once per card at the opening.
        first_post = harness.slack.calls_to("chat.postMessage")[0]
        assert "nouveau" in str(first_post.args["blocks"]) and "<@" not in str(first_post.args)
        call.click("step:preparation", ids.START_CALL)
        assert f"<@{NEWCOMER[0]}>" in str(call.card().blocks)

        open_case(harness, factory, agent=NEWCOMER[1], number="N2", contract_number="N-2")  # no second look-up
        harness.drain()
    assert lookups(harness) == [NEWCOMER[1]]


def test_an_email_slack_does_not_know_is_told_to_the_leads_once_and_never_looked_up_again(harness, factory):
    unknown = "inconnu@agence.fr"
    imported_agent(harness, None, unknown)
    with time_machine.travel(CALL_TIME, tick=True):
        for number in ("U1", "U2"):
            open_case(harness, factory, agent=unknown, number=number, contract_number=f"{number}-1")
            harness.drain()

    assert lookups(harness) == [unknown]
    assert agent_row(harness, unknown).slack_unknown_at is not None
    told = [m.text for m in harness.slack.direct_messages(harness.lead_id)]
    assert told == [t("reminders.unknown_email", email=unknown)]


def test_each_agent_gets_one_morning_message_listing_his_new_cases_linked_to_their_threads(harness, factory):
    mine = [factory.case(client_file(number=f"M{n}", last_name=f"Martin{n}"),
                         [contract(number=f"M-{n}", seller=AGENT[1])], opened=False, agent=AGENT[1],
                         m3_date=date(2026, 12, 2)) for n in range(2)]
    theirs = factory.case(client_file(number="C1", last_name="Colin"), [contract(number="C-1", seller=AGENT[1])],
                          opened=False, agent=COLLEAGUE[1], m3_date=date(2026, 12, 2))
    ticker = Ticker(harness.engine, SlackNotifier(harness.settings), harness.settings)
    with time_machine.travel(MORNING, tick=True):
        ticker.tick()
        harness.drain(timeout=10)
        team_url = harness.slack.api_url.removesuffix("api/").rstrip("/") + "/"

        def links(case_ids: list[int]) -> list[str]:
            cards = [CallDriver(harness, case_id, harness.lead_id).card() for case_id in case_ids]
            return [permalink(team_url, card.channel, card.ts) for card in cards]

        (to_me,) = harness.slack.direct_messages(harness.agent_id)
        (to_colleague,) = harness.slack.direct_messages(harness.colleague_id)
    assert to_me.text == t("reminders.morning.text", count=2)
    assert all(link in str(to_me.blocks) for link in links(mine)) and "Martin0" in str(to_me.blocks)
    assert all(link in str(to_colleague.blocks) for link in links([theirs]))
    assert "Martin0" not in str(to_colleague.blocks)
    # Once sent, the list's row keeps no client's name, as every delivered row.
    with Session(harness.engine) as session:
        (listed,) = session.exec(select(Outbox).where(Outbox.method == "m3.morning_list", Outbox.dedupe_key.contains(AGENT[1])))
    assert listed.status == "delivered" and "Martin0" not in str(listed.payload)
    # The cards themselves mention nobody: the morning message is the one notification.
    posted_cards = [c for c in harness.slack.calls_to("chat.postMessage") if c.args.get("channel") == harness.channel
                    and not c.args.get("thread_ts")]
    assert len(posted_cards) == 3 and not any("<@" in str(c.args) for c in posted_cards)


def test_a_lead_reassigning_a_case_mentions_the_new_agent_in_its_thread(harness, factory):
    with time_machine.travel(CALL_TIME, tick=True):
        case_id = open_case(harness, factory)
        call = CallDriver(harness, case_id, harness.lead_id)
        call.click("card", ids.REASSIGN)
        call.submit({ids.INPUT_AGENT: COLLEAGUE[0]})
        thread = call.thread()
    notice = t("slack.lead_tools.reassigned_notice", who=f"<@{COLLEAGUE[0]}>")
    assert [m.text for m in thread if m.text == notice] == [notice]
    assert f"<@{COLLEAGUE[0]}>" in str(call.card().blocks)
