"""The messages of a lead's hand-over (of one case, or of all an absent agent's): the notice in each case's
thread that tells the new agent (a mention: Slack notifies him),
and the summary the lead receives. Neither shows the lead's reason: it may say why a colleague is away, and
it stays in the cases' trails."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from bot.views.blocks import Message, message, section
from bot.views.text import person, t


def handover_notice(who: str, absent: str, names: Mapping[str, str]) -> Message:
    """Posted in the case's thread: `who` (a mention) now holds the case of `absent`."""
    text = t("lead_tools.handover_notice", who=who, absent=person(absent, names))
    return message(text, [section(text)])


def reassigned_notice(who: str) -> Message:
    """Posted in the case's thread when a lead gives this one case to `who` (a mention)."""
    text = t("lead_tools.reassigned_notice", who=who)
    return message(text, [section(text)])


def handover_summary(absent: str, given: Mapping[int, str], names: Mapping[str, str]) -> Message:
    """For the lead: how many cases went to whom."""
    counts = Counter(given.values())
    lines = [t("lead_tools.handover_summary_row", count=n, agent=person(agent, names))
             for agent, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    text = t("lead_tools.handover_summary", count=len(given), absent=person(absent, names))
    return message(text, [section("\n".join([text, *lines]))])
