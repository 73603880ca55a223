"""The sandbox (`m3bot sandbox`) as a newcomer uses it: its page in a real browser (Debian's headless
Chromium driven by Playwright), the bot behind it answering over signed HTTP, the demo clients imported
through the real Lagon import.

The browser tests skip only when /usr/bin/chromium is absent (`.ci/run` installs it). To refresh the
pictures of the README (docs/sandbox.png, in the middle of a call) and of the agent's guide (docs/guide-*.png):
    M3_SCREENSHOTS=docs .venv/bin/python -m pytest tests/sandbox/test_page.py -k "whole_call or business_morning"
"""

from __future__ import annotations

import io
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from flows.opening import m3_date
from sandbox.demo import DEMO_EXPORT, USERS, Sandbox, dated_export, next_business_morning
from service.agency_hours import AgencyHours
from storage.importer import read_rows
from storage.tables import utcnow
from wording import t

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PARIS = ZoneInfo("Europe/Paris")
CALL_TIME = datetime(2026, 12, 1, 10, 30, tzinfo=PARIS)  # a Tuesday morning: a legal calling slot
SATURDAY = datetime(2026, 12, 5, 11, 0, tzinfo=PARIS)
AGENT, COLLEAGUE, LEAD = USERS
CLIENT = "Mme Claire Fontaine"  # demo_lagon.csv: one car contract, sold by the agent
# What the page shows arrives through the bot and Slack's paced limits: on a CI machine busy with other
# work, a round trip may take longer than Playwright's 5 s default without anything being wrong.
expect.set_options(timeout=15_000)


def label(key: str) -> str:
    return t(f"labels.{key}")


def ui(key: str, **values: object) -> str:
    return t(f"slack.{key}", **values)


# ---- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[Callable[[datetime], Sandbox]]:
    started: list[Sandbox] = []

    def start(clock: datetime) -> Sandbox:
        started.append(Sandbox(tmp_path / "sandbox.db", clock=clock).start())
        return started[-1]

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}): apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="fr-FR")
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    yield page
    context.close()
    assert script_errors == [], "the page's script failed"


# ---- the page as an agent reads it ------------------------------------------------------------------------


class Screen:
    """Locators for what a user sees: the case's card in the channel, its thread's step messages, rows."""

    def __init__(self, page: Page, client: str = CLIENT):
        self.page, self.client = page, client

    def card(self) -> Locator:
        heading = self.page.get_by_role("heading", name=ui("card.title", client=self.client), exact=True)
        return self.page.locator("#messages .message", has=heading)

    def card_field(self, name: str) -> Locator:
        return self.card().locator(".field", has_text=ui(f"card.{name}"))

    def expect_step(self, state: str) -> None:
        expect(self.card_field("step")).to_contain_text(label(f"state.{state}"))

    def step(self, state: str) -> Locator:
        heading = self.page.get_by_role("heading", name=f"{label(f'state.{state}')} — {self.client}", exact=True)
        return self.page.locator("#thread .message", has=heading)

    def row(self, message: Locator, title: str) -> tuple[Locator, Locator]:
        """A question of a step: its section (title, value, answer) and the buttons right after it."""
        section = message.locator(".block-section", has_text=re.compile(rf"^{re.escape(title)}\b"))
        return section, section.locator("xpath=following-sibling::*[1][contains(@class, 'block-actions')]")

    def press(self, scope: Locator, text: str) -> None:
        scope.get_by_role("button", name=text, exact=True).click()

    def modal(self) -> Locator:
        return self.page.get_by_role("dialog")

    def save(self) -> None:
        self.modal().get_by_role("button", name=ui("modals.submit"), exact=True).click()

    def act_as(self, user_id: str) -> None:
        self.page.locator("#act-as").select_option(user_id)


def move_clock(page: Page, move: str) -> None:
    page.locator("#clock-moves").get_by_role("button", name=t(f"sandbox.page.clock_{move}"), exact=True).click()


def snapshot(page: Page, name: str, scroll_to: Locator | None = None) -> None:
    """Under M3_SCREENSHOTS=<folder>, save the page as the docs' picture `name`: a 1440x1080 view, in a
    palette of 128 colours, which keeps a screenshot of text small (under 200 kB)."""
    folder = os.environ.get("M3_SCREENSHOTS")
    if not folder:
        return
    page.set_viewport_size({"width": 1440, "height": 1080})
    if scroll_to is not None:
        scroll_to.evaluate("element => element.scrollIntoView()")
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB").quantize(colors=128)
    image.save(Path(folder) / name, optimize=True)


def answer(screen: Screen, message: Locator, title: str, choice: str) -> Locator:
    section, buttons = screen.row(message, title)
    screen.press(buttons, choice)
    return section


# ---- the whole call ---------------------------------------------------------------------------------------


def test_an_agent_walks_a_client_through_the_whole_call_in_the_page(start_sandbox, page):
    sandbox = start_sandbox(CALL_TIME)
    page.goto(f"{sandbox.page.url}?user={AGENT.id}")
    screen = Screen(page)
    expect(page.locator("#clock")).to_have_attribute("data-legal", "true")

    # Préparation: the card is in the channel; its thread holds the checklist and the opening script.
    screen.expect_step("preparation")
    expect(screen.card_field("agent")).to_contain_text(AGENT.real_name)
    screen.card().get_by_role("button", name=t("sandbox.page.reply_one")).click()
    preparation = screen.step("preparation")
    expect(preparation.locator("blockquote").first).to_be_visible()
    screen.press(preparation, label("buttons.start_call"))

    # Contact: the step just left stays in the thread, read-only.
    screen.expect_step("contact_attempt")
    expect(preparation.get_by_role("button", name=label("buttons.start_call"))).to_have_count(0)
    screen.press(screen.step("contact_attempt"), label("attempt.available"))

    # Client file: confirmed, corrected through modals (a wrong phone number is refused under its field).
    screen.expect_step("admin_profile_update")
    profile = screen.step("admin_profile_update")
    for field in ("last_name", "first_name", "address"):
        section = answer(screen, profile, label(f"field.{field}"), label("profile.confirmed"))
        expect(section).to_contain_text(f"✓ {label('profile.confirmed')}")

    answer(screen, profile, label("field.phone"), label("profile.modified"))
    phone = screen.modal().get_by_label(ui("modals.profile_field.new_value", field=label("field.phone")))
    phone.fill("01 23")
    screen.save()
    expect(screen.modal().locator(".error")).to_be_visible()
    expect(screen.modal().locator(".error")).not_to_be_empty()
    snapshot(page, "guide-erreur.png")
    phone.fill("06 98 76 54 32")
    screen.save()
    expect(screen.modal()).to_have_count(0)
    section, _ = screen.row(profile, label("field.phone"))
    expect(section.locator("s")).to_have_text("+33612345678")
    expect(section).to_contain_text("+33612345678 → +33698765432")

    answer(screen, profile, label("field.email"), label("profile.confirmed"))
    answer(screen, profile, label("field.marital_status"), label("profile.modified"))
    screen.modal().get_by_role("combobox").select_option(label="Marié(e)")
    screen.save()
    expect(screen.modal()).to_have_count(0)
    section = answer(screen, profile, label("field.professional_status"), label("profile.not_given"))
    expect(section).to_contain_text(f"✓ {label('profile.not_given')}")
    section, _ = screen.row(profile, label("field.marital_status"))
    expect(section).to_contain_text("Marié(e)")
    expect(profile).to_contain_text(ui("steps.progress", done=7, total=7))
    snapshot(page, "sandbox.png", scroll_to=profile)
    screen.press(profile, ui("steps.validate_profile"))

    # Contracts: the one contract signed.
    screen.expect_step("admin_contract_validation")
    contracts = screen.step("admin_contract_validation")
    section = answer(screen, contracts, ui("steps.contract", number="AUTO-2001"), label("contract.signed"))
    expect(section).to_contain_text(f"✓ {label('contract.signed')}")
    screen.press(contracts, ui("steps.validate_contracts"))

    # Rebound: consent first, then each structuring protection: one held elsewhere, a gap made a priority.
    screen.expect_step("commercial_rebound")
    rebound = screen.step("commercial_rebound")
    answer(screen, rebound, ui("steps.agreement"), label("buttons.agreement_yes"))
    rows = rebound.locator(".block-actions", has=page.get_by_role("button", name=label("protection.not_covered")))
    expect(rows.first).to_be_visible()
    count = rows.count()
    assert count >= 2

    screen.press(rows.nth(0), label("protection.elsewhere"))
    screen.modal().get_by_label(ui("modals.elsewhere.insurer")).fill("MAIF")
    screen.modal().get_by_label(ui("modals.elsewhere.renewal")).fill("2027-04-01")
    screen.save()
    expect(screen.modal()).to_have_count(0)
    elsewhere = rows.nth(0).locator("xpath=preceding-sibling::*[1]")
    expect(elsewhere).to_contain_text(ui("steps.elsewhere", insurer="MAIF", renewal="1 avril 2027"))

    screen.press(rows.nth(1), label("protection.not_covered"))
    screen.press(rows.nth(1), label("buttons.priority_on"))
    screen.modal().get_by_label(ui("modals.priority.reason")).fill("Aucune garantie accident pour sa famille")
    screen.save()
    expect(screen.modal()).to_have_count(0)
    expect(rows.nth(1).locator("xpath=preceding-sibling::*[1]")).to_contain_text("Aucune garantie accident")
    for row in range(2, count):
        screen.press(rows.nth(row), label("protection.to_explore"))
        expect(rows.nth(row).locator("xpath=preceding-sibling::*[1]")).to_contain_text(label("protection.to_explore"))
    expect(rebound).to_contain_text(ui("steps.priorities", count=1))
    snapshot(page, "guide-appel.png", scroll_to=rebound)
    screen.press(rebound, label("buttons.finish_rebound"))

    # Action plan: a dated meeting for the global review, owned by the agent, then the closing.
    screen.expect_step("action_plan")
    plan = screen.step("action_plan")
    screen.press(plan, label("action.rdv"))
    modal = screen.modal()
    expect(modal.get_by_label(ui("modals.action.owner"))).to_have_value(AGENT.id)
    modal.get_by_label(ui("modals.action.due")).fill("2026-12-02")
    modal.get_by_label(t("labels.plan_purpose.bilan_global")).check()
    screen.save()
    expect(modal).to_have_count(0)
    expect(plan).to_contain_text(ui("plan.due", date="2 décembre 2026"))
    screen.press(plan, label("buttons.close"))

    screen.expect_step("closed")
    expect(screen.card()).to_contain_text(t("labels.plan_kind.rdv"))
    expect(screen.card()).to_contain_text(label("close_reason.completed"))
    expect(plan.get_by_role("button", name=label("buttons.close"))).to_have_count(0)
    expect(page.locator(".message.ephemeral")).to_have_count(0)  # nothing was refused along the way

    # The next business morning, the scheduler reminds the agent of his action, in his messages with the app.
    move_clock(page, "morning")
    page.locator("#nav-app").click()
    page.get_by_role("tab", name=t("sandbox.page.messages_tab")).click()
    expect(page.locator("#im .message", has_text=CLIENT)).to_contain_text(label("action.rdv"))


# ---- permissions and calling hours ------------------------------------------------------------------------


def test_outside_calling_hours_the_page_warns_and_the_refusal_is_shown_only_to_the_agent(start_sandbox, page):
    sandbox = start_sandbox(SATURDAY)
    page.goto(f"{sandbox.page.url}?user={AGENT.id}")
    screen = Screen(page)
    clock = page.locator("#clock")
    expect(clock).to_have_attribute("data-legal", "false")
    expect(clock).to_contain_text("--time 2026-12-07T10:00")

    screen.card().get_by_role("button", name=t("sandbox.page.reply_one")).click()
    screen.press(screen.step("preparation"), label("buttons.start_call"))
    refusal = page.locator("#thread .message.ephemeral")
    expect(refusal).to_contain_text(t("sandbox.page.only_you"))
    expect(refusal).to_contain_text(t("reasons.outside_calling_hours"))
    screen.expect_step("preparation")

    screen.act_as(COLLEAGUE.id)
    expect(page.locator("#act-as")).to_have_value(COLLEAGUE.id)
    screen.expect_step("preparation")
    expect(page.locator(".message.ephemeral")).to_have_count(0)


def test_a_lead_hands_a_case_to_another_agent_who_finds_it_in_his_home(start_sandbox, page):
    sandbox = start_sandbox(CALL_TIME)
    page.goto(f"{sandbox.page.url}?user={LEAD.id}")
    screen = Screen(page)
    screen.press(screen.card(), ui("card.reassign"))
    screen.modal().get_by_label(ui("modals.reassign.agent")).select_option(COLLEAGUE.id)
    screen.save()
    expect(screen.card_field("agent")).to_contain_text(COLLEAGUE.real_name)

    screen.act_as(COLLEAGUE.id)
    page.locator("#nav-app").click()
    expect(page.locator("#home")).to_contain_text("Claire Fontaine")
    page.get_by_role("tab", name=t("sandbox.page.messages_tab")).click()
    page.locator("#composer-input").fill("/m3 aide")
    page.locator("#composer-input").press("Enter")
    expect(page.locator("#im .message.ephemeral")).to_contain_text(t("sandbox.page.only_you"))


# ---- the demo clock and the scheduler ---------------------------------------------------------------------


def test_a_booked_callback_comes_back_in_the_thread_once_the_clock_moves_an_hour(start_sandbox, page):
    sandbox = start_sandbox(CALL_TIME)
    page.goto(f"{sandbox.page.url}?user={AGENT.id}")
    screen = Screen(page)
    screen.card().get_by_role("button", name=t("sandbox.page.reply_one")).click()
    screen.press(screen.step("preparation"), label("buttons.start_call"))
    screen.press(screen.step("contact_attempt"), label("attempt.callback"))
    screen.modal().get_by_label(ui("modals.callback.at")).fill("2026-12-01T11:15")
    screen.save()
    expect(screen.modal()).to_have_count(0)
    screen.expect_step("scheduled_callback")
    call_now = page.locator("#thread").get_by_role("button", name=t("reminders.callback.call_now"))
    expect(call_now).to_have_count(0)

    move_clock(page, "hour")
    expect(page.locator("#clock")).to_contain_text("mardi 1 décembre à 11:3")
    expect(call_now).to_be_visible()  # the scheduler ticked at once: not after SCHEDULER_TICK_SECONDS
    expect(page.locator("#clock")).to_have_attribute("data-legal", "true")


def test_the_next_business_morning_brings_the_leads_digest_and_keeps_the_calling_hours(start_sandbox, page):
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=PARIS)
    sandbox = start_sandbox(friday_evening)
    page.goto(f"{sandbox.page.url}?user={LEAD.id}")
    page.locator("#nav-app").click()
    page.get_by_role("tab", name=t("sandbox.page.messages_tab")).click()
    monday_digest = page.locator("#im .message", has_text=t("reminders.digest.title", day="7 décembre 2026"))
    # The agency closed at 18 h: no digest yet (the lead's Home may already have shared its funnel picture here).
    any_digest = page.locator("#im .message", has_text=t("reminders.digest.title", day="").strip())
    expect(any_digest).to_have_count(0)

    move_clock(page, "morning")  # over the weekend, to the agency's opening time
    clock = page.locator("#clock")
    expect(clock).to_contain_text("lundi 7 décembre à 09:0")
    expect(clock).to_have_attribute("data-legal", "false")  # 9 h: the agency opens, calls wait until 10 h
    expect(monday_digest).to_be_visible()
    expect(clock).to_contain_text(t("sandbox.clock.moved"))

    move_clock(page, "hour")
    expect(clock).to_have_attribute("data-legal", "true")

    page.get_by_role("tab", name=t("sandbox.page.home_tab")).click()
    expect(page.locator("#home .block-header").first).to_be_visible()
    # The lead's Home: what needs a decision first, then the funnel's picture once its upload is done.
    expect(page.locator("#home").get_by_text(t("dashboards.lead_home.attention_title"))).to_be_visible()
    expect(page.locator("#home .block-image img")).to_be_visible()
    snapshot(page, "guide-accueil-responsable.png")


# ---- the sandbox without a browser ------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 12, 4, 18, 0), datetime(2026, 12, 7, 9, 0)),  # Friday evening: Monday
    (datetime(2026, 12, 1, 7, 30), datetime(2026, 12, 1, 9, 0)),  # a Tuesday before opening: that morning
    (datetime(2026, 12, 1, 9, 0), datetime(2026, 12, 2, 9, 0)),  # opening time itself: the next day's
    (datetime(2026, 12, 24, 12, 0), datetime(2026, 12, 28, 9, 0)),  # Christmas on Friday is skipped
])
def test_the_next_business_morning_is_the_next_opening_time_of_a_working_day(now, expected):
    hours = AgencyHours.parse("Europe/Paris", "09:00", "18:00")
    assert next_business_morning(hours, now.replace(tzinfo=PARIS)) == expected.replace(tzinfo=PARIS)


def test_the_page_moves_the_clock_forward_only_by_its_known_moves(start_sandbox):
    sandbox = start_sandbox(CALL_TIME)
    url = f"{sandbox.page.url}api/clock"
    headers = {"Content-Type": "application/json"}
    assert _post(url, json.dumps({"user": AGENT.id, "move": "back"}).encode(), headers) == 400
    assert _post(url, json.dumps({"user": "U0NOBODY", "move": "hour"}).encode(), headers) == 400
    before = utcnow()
    assert _post(url, json.dumps({"user": AGENT.id, "move": "hour"}).encode(), headers) == 200
    assert utcnow() - before >= timedelta(hours=1)



def test_page_stand_in_and_bot_listen_on_loopback_only(start_sandbox):
    sandbox = start_sandbox(CALL_TIME)
    assert sandbox.page.url.startswith("http://127.0.0.1:")
    assert sandbox.slack.base_url.startswith("http://127.0.0.1:")
    assert sandbox.slack.bot_url.startswith("http://127.0.0.1:")


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_page_takes_gestures_as_json_from_itself_only(start_sandbox):
    sandbox = start_sandbox(CALL_TIME)
    url = f"{sandbox.page.url}api/command"
    body = json.dumps({"user": AGENT.id, "text": "/m3 aide"}).encode()
    # A form post is what another web site could send from the same browser without asking first.
    assert _post(url, b"user=U0CAMILLE&text=%2Fm3", {"Content-Type": "application/x-www-form-urlencoded"}) == 415
    assert _post(url, body, {"Content-Type": "application/json", "Host": "attacker.example:80"}) == 403
    assert _post(url, body, {"Content-Type": "application/json"}) == 200


def test_the_demo_clients_are_due_whatever_the_day():
    data = DEMO_EXPORT.read_bytes()
    for offset in range(0, 800, 3):
        today = date(2026, 1, 1) + timedelta(days=offset)
        first: dict[str, date] = {}
        for _line, row in read_rows(dated_export(data, today)):
            subscribed = datetime.strptime(row["date_souscription"], "%d/%m/%Y").date()
            first[row["numero_client"]] = min(subscribed, first.get(row["numero_client"], subscribed))
        due = {client: m3_date(day) for client, day in first.items()}
        assert today - timedelta(days=3) <= due["C2001"] <= today, today
        assert all(today - timedelta(days=30) <= due[c] <= today for c in ("C2002", "C2003", "C2004")), today
        assert due["C2005"] > today, today
