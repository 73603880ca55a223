"""The words of the interface, in French: what the command line, Slack, the sandbox, the dashboards and the
reminders show, and the wording of the domain's refusals. Its YAML files live in `wording/fr/`.

`t()` and `data()` also answer the keys of the domain's own texts (`flows.texts`: the labels, the script, the
checklist, the verdict, the catalogue), so that the interface reads every text from here. `configure()` points
both at an agency's folder of overrides; the protection catalogue is not overridable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from flows.texts import DOMAIN, FixedText, MissingText, Texts

if TYPE_CHECKING:
    from flows.steps.common import Refused

__all__ = ["FixedText", "MissingText", "configure", "data", "refusal", "t"]

INTERFACE = Texts(Path(__file__).with_name("fr"), fallback=DOMAIN)
configure = INTERFACE.configure
data = INTERFACE.data
t = INTERFACE.t


def refusal(refused: Refused) -> str:
    """What the agent reads when the domain refuses: the wording of the refusal's reason code (`reasons.yml`,
    or `validation.yml` for an invalid answer), filled with its values."""
    return t(refused.key, **refused.values)
