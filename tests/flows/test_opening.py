from datetime import date

import pytest

from flows.case import Contract, Origin
from flows.opening import caller_for, due_status, group_into_cases, m3_date, opening_refusal


def contract(number: str, subscribed_on: date) -> Contract:
    return Contract(number, "AUTO", "TIERS", subscribed_on, Origin.chalandise, signed=True)


def numbers(groups: list[list[Contract]]) -> list[list[str]]:
    return [[c.number for c in group] for group in groups]


def test_contracts_subscribed_within_the_window_share_a_case():
    groups = group_into_cases([contract("A", date(2026, 8, 1)), contract("B", date(2026, 8, 31))], window_days=30)
    assert numbers(groups) == [["A", "B"]]


def test_contract_after_the_window_opens_its_own_case():
    groups = group_into_cases([contract("A", date(2026, 8, 1)), contract("B", date(2026, 9, 1))], window_days=30)
    assert numbers(groups) == [["A"], ["B"]]


def test_window_counts_from_the_group_first_contract_not_the_previous_one():
    contracts = [contract("A", date(2026, 1, 1)), contract("B", date(2026, 1, 25)), contract("C", date(2026, 2, 15))]
    assert numbers(group_into_cases(contracts, window_days=30)) == [["A", "B"], ["C"]]


def test_groups_are_sorted_by_subscription_date_whatever_the_input_order():
    contracts = [contract("C", date(2026, 6, 1)), contract("A", date(2026, 1, 1)), contract("B", date(2026, 1, 10))]
    assert numbers(group_into_cases(contracts, window_days=30)) == [["A", "B"], ["C"]]


def test_no_contract_no_case():
    assert group_into_cases([], window_days=30) == []


@pytest.mark.parametrize(
    ("subscribed", "m3"),
    [
        (date(2026, 8, 27), date(2026, 11, 27)),
        (date(2026, 11, 30), date(2027, 2, 28)),
        (date(2027, 11, 30), date(2028, 2, 29)),
        (date(2026, 8, 31), date(2026, 11, 30)),
        (date(2026, 10, 15), date(2027, 1, 15)),
    ],
)
def test_m3_date_stays_in_the_target_month(subscribed, m3):
    assert m3_date(subscribed) == m3


def test_m3_offset_can_be_tuned():
    assert m3_date(date(2026, 1, 31), months=1) == date(2026, 2, 28)


def status(m3: date, today: date, first_seen: date) -> str:
    return due_status(m3, today, catch_up_days=30, first_seen=first_seen)


def test_case_is_not_due_before_its_m3_date():
    assert status(date(2026, 12, 1), date(2026, 11, 30), first_seen=date(2026, 9, 1)) == "not_due"


def test_case_is_due_on_its_m3_date():
    assert status(date(2026, 12, 1), date(2026, 12, 1), first_seen=date(2026, 12, 1)) == "due"


def test_case_first_seen_long_after_its_m3_date_is_out_of_time():
    assert status(date(2026, 9, 1), date(2026, 11, 27), first_seen=date(2026, 11, 27)) == "out_of_time"


def test_catch_up_window_is_counted_in_days_from_the_m3_date():
    assert status(date(2026, 10, 28), date(2026, 11, 27), first_seen=date(2026, 11, 27)) == "due"
    assert status(date(2026, 10, 27), date(2026, 11, 27), first_seen=date(2026, 11, 27)) == "out_of_time"


def test_backlog_imported_late_is_out_of_time_whenever_it_is_first_considered():
    # Imported on 1 November, three months after its M+3 date; the morning run of 27 November sets it aside.
    assert status(date(2026, 8, 1), date(2026, 11, 27), first_seen=date(2026, 11, 1)) == "out_of_time"


def test_case_seen_in_time_but_missed_while_the_bot_was_down_is_still_due():
    assert status(date(2026, 9, 1), date(2026, 11, 27), first_seen=date(2026, 6, 1)) == "due"


def test_a_day_of_the_run_before_the_import_day_counts_as_the_day_first_seen():
    # `m3bot open-due --today` in the past: the case is judged as it stood that day.
    assert status(date(2026, 6, 1), date(2026, 6, 10), first_seen=date(2026, 12, 3)) == "due"


@pytest.mark.parametrize(
    ("status", "is_lead", "refusal"),
    [
        ("due", False, None),
        ("due", True, None),
        ("out_of_time", True, None),
        ("out_of_time", False, "out_of_time_lead_only"),
        ("not_due", True, "case_not_due"),
        ("not_due", False, "case_not_due"),
    ],
)
def test_who_may_open_a_case_by_hand(status, is_lead, refusal):
    assert opening_refusal(status, is_lead=is_lead) == refusal


@pytest.mark.parametrize(
    ("rule", "seller", "account_manager", "expected"),
    [
        ("account_manager", "v@a.fr", "g@a.fr", "g@a.fr"),
        ("account_manager", "v@a.fr", None, "v@a.fr"),
        ("seller", "v@a.fr", "g@a.fr", "v@a.fr"),
        ("seller", None, "g@a.fr", "g@a.fr"),
        ("seller", None, None, None),
    ],
)
def test_the_caller_is_the_role_the_rule_names_else_the_other(rule, seller, account_manager, expected):
    assert caller_for(rule, seller=seller, account_manager=account_manager) == expected
