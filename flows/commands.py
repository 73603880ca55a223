"""The events an agent (or the scheduler) can apply to a case, one dataclass each.

The Slack side builds one of these from a click or a modal; `flows.engine.handle` applies it or refuses it
with a French reason. Names follow the guide's steps, and each command fires the trigger named after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flows.case import ActionKind, Aim, AttemptOutcome, CloseReason, ContractAnswer, ProfileAnswer, ProtectionAnswer
from flows.workflow import attempt_trigger


class _Fires:
    """A command fires the workflow trigger named after it (`StartCall`: "start_call", `flows.workflow`)."""

    @property
    def trigger(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


@dataclass(frozen=True)
class StartCall(_Fires):
    """preparation -> contact_attempt: the agent starts calling; `caller` is who calls (seller or colleague)."""

    caller: str


@dataclass(frozen=True)
class RecordAttempt(_Fires):
    """One call attempt ends: available, callback booked, no answer (messagerie) or refusal."""

    outcome: AttemptOutcome
    callback_at: datetime | None = None
    client_requested: bool = False  # the client asked for this exact time (out-of-hours allowed)
    request_wording: str | None = None  # the client's own words for that request, kept as proof

    @property
    def trigger(self) -> str:
        """How the attempt ended says where the call goes (guide 5.2: client disponible, indisponible…)."""
        return attempt_trigger(self.outcome)


@dataclass(frozen=True)
class CallbackDue(_Fires):
    """scheduled_callback -> contact_attempt: the booked callback has come (sent by the scheduler), or the
    agent takes it now from its reminder (`dialling`: the calling rules are checked before he dials)."""

    dialling: bool = False


@dataclass(frozen=True)
class AnswerProfile(_Fires):
    """Confirmé / Modifié / Non communiqué for one client-file field; re-answering corrects it."""

    field: str
    answer: ProfileAnswer
    new_value: str | None = None
    postcode: str | None = None  # a changed address comes with its postcode (time zone, public holidays)


@dataclass(frozen=True)
class ValidateProfile(_Fires):
    """admin_profile_update -> admin_contract_validation, once every field has an answer."""


@dataclass(frozen=True)
class AnswerContract(_Fires):
    """Signé / Pièce manquante / À relancer for one contract; a missing piece names its nature and recovery."""

    contract_number: str
    answer: ContractAnswer
    piece: str | None = None
    recovery: str | None = None


@dataclass(frozen=True)
class ValidateContracts(_Fires):
    """admin_contract_validation -> commercial_rebound, once every contract has an answer."""


@dataclass(frozen=True)
class RecordAgreement(_Fires):
    """The client agrees (or not) to talk about his other contracts; the wording asked is kept as proof."""

    agreed: bool
    wording: str


@dataclass(frozen=True)
class WithdrawAgreement(_Fires):
    """The client withdraws the agreement he gave: from now on only the administrative part goes on."""

    wording: str | None = None  # what the client said, when the agent notes it


@dataclass(frozen=True)
class SetOpposition(_Fires):
    """The client asks never to be called again for commercial purposes (`opposed`), or, at his request, a
    lead lifts that opposition. The flag is the client's: every later case honours it."""

    opposed: bool


@dataclass(frozen=True)
class AnswerProtection(_Fires):
    """Contrat ailleurs / Pas couvert / À approfondir for one protection."""

    protection: str
    answer: ProtectionAnswer
    insurer: str | None = None
    renewal_on: date | None = None


@dataclass(frozen=True)
class SetPriority(_Fires):
    """Mark (or unmark) a gap as one of the call's 2-3 priorities, with the reason (duty of advice)."""

    protection: str
    priority: bool
    reason: str | None = None


@dataclass(frozen=True)
class RecordNeed(_Fires):
    """A need the client expressed, in his words."""

    text: str


@dataclass(frozen=True)
class FinishRebound(_Fires):
    """commercial_rebound -> action_plan."""


@dataclass(frozen=True)
class AddAction(_Fires):
    """Créer devis / Planifier RDV / Programmer relance: one dated line of the action plan."""

    kind: ActionKind
    due_on: date
    owner: str
    purpose: str | None = None  # "bilan_global": the global review the guide proposes
    reason: str | None = None
    aim: Aim = Aim.commercial  # a devis and the global review are commercial whatever is said here


@dataclass(frozen=True)
class RemoveAction(_Fires):
    """Withdraw an action entered by mistake, before the case closes."""

    action_id: int


@dataclass(frozen=True)
class CompleteAction(_Fires):
    """Mark an action of the plan done (from its reminder); allowed after the case closed."""

    action_id: int


@dataclass(frozen=True)
class Close(_Fires):
    """action_plan -> closed as completed: needs a dated action plan."""


@dataclass(frozen=True)
class CloseEarly(_Fires):
    """Close before the end: unreachable after N attempts, client refuses, or duplicate case."""

    reason: CloseReason
    note: str | None = None


@dataclass(frozen=True)
class Reassign(_Fires):
    """A lead hands the case to another agent; `reason` says why (required when he hands over every case of
    an absent agent at once, `flows.steps.lead.plan_handover`)."""

    agent: str
    reason: str | None = None


@dataclass(frozen=True)
class Reopen(_Fires):
    """closed -> the step the case had reached: a lead reopens a case closed by mistake, saying why."""

    reason: str


Command = (
    StartCall
    | RecordAttempt
    | CallbackDue
    | AnswerProfile
    | ValidateProfile
    | AnswerContract
    | ValidateContracts
    | RecordAgreement
    | WithdrawAgreement
    | SetOpposition
    | AnswerProtection
    | SetPriority
    | RecordNeed
    | FinishRebound
    | AddAction
    | RemoveAction
    | CompleteAction
    | Close
    | CloseEarly
    | Reassign
    | Reopen
)
