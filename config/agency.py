"""The settings an agency's admin sets in Slack, within the bounds the law and the product allow, and how they
override the environment's defaults (`effective`).

- The M+3 channel and the leads: Slack ids, as Slack writes them.
- The agency's hours, when reminders bring calls back: between 08:00 and 20:00, since no call to a consumer
  is lawful after 20:00 (décret 2022-1313, art. D.223-9 Code de la consommation).
- Who calls a new client: his account manager or the seller.
- Retention, in years after the last contract, case and call: between 2 (the insurance prescription, art.
  L114-1 Code des assurances) and 10 (the longest the agency may need to prove its advice).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from config.settings import Settings
from flows.opening import CallerRule

CHANNEL_ID = r"^[CG][A-Z0-9]{2,}$"  # Slack documents no length: it checks the channel itself
USER_ID = r"^[UW][A-Z0-9]{2,}$"
HOUR = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
EARLIEST, LATEST = "08:00", "20:00"
MAX_LEADS = 20
RETENTION_YEARS = (2, 10)


class AgencySettings(BaseModel):
    """What an admin may set; a value out of bounds fails validation (its field named in the error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    m3_channel: Annotated[str, StringConstraints(pattern=CHANNEL_ID)]
    m3_leads: list[Annotated[str, StringConstraints(pattern=USER_ID)]] = Field(default_factory=list,
                                                                               max_length=MAX_LEADS)
    agency_opens: Annotated[str, StringConstraints(pattern=HOUR)] = "09:00"
    agency_closes: Annotated[str, StringConstraints(pattern=HOUR)] = "18:00"
    m3_caller: CallerRule = "account_manager"
    retention_years: int = Field(default=5, ge=RETENTION_YEARS[0], le=RETENTION_YEARS[1])

    @model_validator(mode="after")
    def _hours_within_the_legal_day(self) -> AgencySettings:
        # "HH:MM" strings compare as the hours they spell.
        if not EARLIEST <= self.agency_opens < self.agency_closes <= LATEST:
            raise ValueError("agency_hours")
        return self


def defaults(settings: Settings) -> dict[str, Any]:
    """The environment's values of what an admin may set: what a settings form starts from."""
    return {name: getattr(settings, name) for name in AgencySettings.model_fields}


def effective(settings: Settings, chosen: dict[str, Any]) -> Settings:
    """The environment's settings with what the agency's admin chose (validated when chosen) over them."""
    known = {name: value for name, value in chosen.items() if name in AgencySettings.model_fields}
    return settings.model_copy(update=known) if known else settings
