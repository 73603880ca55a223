"""What every step shares: the command's context, the facts it records, the refusal it raises, free text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flows import texts
from flows.rules import Rules

if TYPE_CHECKING:
    from flows.commands import Command

MAX_FREE_TEXT = 1000


class Refused(Exception):
    """The command breaks a rule of the guide or the law; `reason` is French, shown to the agent as is, and
    `code` (when the rule has one) is its key in `flows/texts/reasons.yml`, stable for callers and tests."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Fact:
    """One thing that happened, as the audit trail records it (`data` is JSON-serialisable)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """One command being applied: the command, who applies it, when, under which rules."""

    command: Command
    actor: str
    now: datetime
    rules: Rules

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo(self.rules.agency_timezone)).date()


def refuse(key: str, **values: Any) -> Refused:
    """The refusal whose French text is `reasons.<key>` (the key is its code)."""
    return Refused(texts.t(f"reasons.{key}", **values), key)


def free_text(value: str | None) -> str | None:
    """Free text from the agent: stripped, empty as None, bounded so a pasted page cannot flood the trail."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_FREE_TEXT:
        raise refuse("text_too_long", max=MAX_FREE_TEXT)
    return value


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
