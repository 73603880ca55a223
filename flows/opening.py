"""When an M+3 case opens: which contracts of a client share it, its M+3 date, whether it is due, and who
may open it by hand.

Pure date arithmetic; the importer and the scheduler call it with the agency's settings.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date
from typing import Literal

from flows.case import Contract

DueStatus = Literal["not_due", "due", "out_of_time"]


def group_into_cases(contracts: Sequence[Contract], window_days: int) -> list[list[Contract]]:
    """Split one client's contracts into cases: a contract subscribed within `window_days` of a group's
    first contract joins that group, so one call covers an auto and a home policy sold together."""
    groups: list[list[Contract]] = []
    for contract in sorted(contracts, key=lambda c: (c.subscribed_on, c.number)):
        if groups and (contract.subscribed_on - groups[-1][0].subscribed_on).days <= window_days:
            groups[-1].append(contract)
        else:
            groups.append([contract])
    return groups


def m3_date(first_subscription: date, months: int = 3) -> date:
    """The date `months` after the first subscription, on the month's last day when it is shorter
    (30 November + 3 months -> 28 or 29 February)."""
    month_index = first_subscription.month - 1 + months
    year = first_subscription.year + month_index // 12
    month = month_index % 12 + 1
    day = min(first_subscription.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def due_status(m3: date, today: date, catch_up_days: int, first_seen: date) -> DueStatus:
    """`due` once the M+3 date has come. A case the bot first saw (`first_seen`: the day it was imported,
    or the agency's first opening run for what was imported before) more than `catch_up_days` after its
    M+3 date is `out_of_time`: a backlog is listed for the leads, not flooded into agents' queues in one
    morning. A case that came due while the bot was down is still `due`: those missed days are caught up."""
    if today < m3:
        return "not_due"
    if (min(first_seen, today) - m3).days > catch_up_days:
        return "out_of_time"
    return "due"


def opening_refusal(status: DueStatus, *, is_lead: bool) -> str | None:
    """Who may open a case by hand (`/m3 ouvrir`, the leads' Home): anyone a due case, a lead an out-of-time
    one (it becomes due now), nobody a case whose M+3 date is to come. The reason code, or None."""
    if status == "not_due":
        return "case_not_due"
    if status == "out_of_time" and not is_lead:
        return "out_of_time_lead_only"
    return None


CallerRule = Literal["account_manager", "seller"]


def caller_for(rule: CallerRule, *, seller: str | None, account_manager: str | None) -> str | None:
    """Who calls the client: the one the agency's rule (M3_CALLER) names, the other when the import names
    nobody for that role. The guide's posture is the account manager's ("gestionnaire-conseil"), hence the
    default rule; the seller may still act on the case and the opening script names him as a colleague."""
    first, second = (account_manager, seller) if rule == "account_manager" else (seller, account_manager)
    return first or second
