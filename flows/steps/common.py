"""What every step shares: the command's context, the facts it records, the refusal it raises, free text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from flows.rules import Rules

if TYPE_CHECKING:
    from flows.commands import Command

MAX_FREE_TEXT = 1000


class Refused(Exception):
    """The command breaks a rule of the guide or the law. It holds no French: `code` names the rule, stable for
    callers and tests, and `values` fill in its wording, `<section>.<code>` of the interface's texts
    (`wording.refusal` words it where the refusal is shown)."""

    section: ClassVar[str] = "reasons"

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.values = values

    @property
    def key(self) -> str:
        """The text key of its wording."""
        return f"{self.section}.{self.code}"


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


def free_text(value: str | None) -> str | None:
    """Free text from the agent: stripped, empty as None, bounded so a pasted page cannot flood the trail."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_FREE_TEXT:
        raise Refused("text_too_long", max=MAX_FREE_TEXT)
    return value


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
