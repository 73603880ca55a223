"""The events an agent (or the scheduler) can apply to a case, one dataclass each.

The Slack side builds one of these from a click or a modal; `flows.engine.handle` applies it or refuses it
with a French reason. Names follow the guide's steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from typing import ClassVar

from flows.case import ActionKind, Aim, AttemptOutcome, CloseReason, ContractAnswer, ProfileAnswer, ProtectionAnswer


# Each command names the machine trigger it fires (`flows.engine`); an attempt's depends on its outcome.
_ATTEMPT_TRIGGERS = {
    AttemptOutcome.available: "client_available",
    AttemptOutcome.callback: "client_unavailable",
    AttemptOutcome.no_answer: "no_answer",
    AttemptOutcome.refused: "client_refuses",
}


@dataclass(frozen=True)
class StartCall:
    """preparation -> contact_attempt: the agent starts calling; `caller` is who calls (seller or colleague)."""

    trigger: ClassVar[str] = "start_call"

    caller: str


@dataclass(frozen=True)
class RecordAttempt:
    """One call attempt ends: available, callback booked, no answer (messagerie) or refusal."""

    outcome: AttemptOutcome
    callback_at: datetime | None = None
    client_requested: bool = False  # the client asked for this exact time (out-of-hours allowed)
    request_wording: str | None = None  # the client's own words for that request, kept as proof

    @property
    def trigger(self) -> str:
        return _ATTEMPT_TRIGGERS[self.outcome]


@dataclass(frozen=True)
class CallbackDue:
    """scheduled_callback -> contact_attempt: the booked callback has come (sent by the scheduler), or the
    agent takes it now from its reminder (`dialling`: the calling rules are checked before he dials)."""

    trigger: ClassVar[str] = "callback_due"

    dialling: bool = False


@dataclass(frozen=True)
class AnswerProfile:
    """Confirmé / Modifié / Non communiqué for one client-file field; re-answering corrects it."""

    trigger: ClassVar[str] = "answer_profile"

    field: str
    answer: ProfileAnswer
    new_value: str | None = None
    postcode: str | None = None  # a changed address comes with its postcode (time zone, public holidays)


@dataclass(frozen=True)
class ValidateProfile:
    """admin_profile_update -> admin_contract_validation, once every field has an answer."""

    trigger: ClassVar[str] = "validate_profile"


@dataclass(frozen=True)
class AnswerContract:
    """Signé / Pièce manquante / À relancer for one contract; a missing piece names its nature and recovery."""

    trigger: ClassVar[str] = "answer_contract"

    contract_number: str
    answer: ContractAnswer
    piece: str | None = None
    recovery: str | None = None


@dataclass(frozen=True)
class ValidateContracts:
    """admin_contract_validation -> commercial_rebound, once every contract has an answer."""

    trigger: ClassVar[str] = "validate_contracts"


@dataclass(frozen=True)
class RecordAgreement:
    """The client agrees (or not) to talk about his other contracts; the wording asked is kept as proof."""

    trigger: ClassVar[str] = "record_agreement"

    agreed: bool
    wording: str


@dataclass(frozen=True)
class WithdrawAgreement:
    """The client withdraws the agreement he gave: from now on only the administrative part goes on."""

    trigger: ClassVar[str] = "withdraw_agreement"

    wording: str | None = None  # what the client said, when the agent notes it


@dataclass(frozen=True)
class SetOpposition:
    """The client asks never to be called again for commercial purposes (`opposed`), or, at his request, a
    lead lifts that opposition. The flag is the client's: every later case honours it."""

    trigger: ClassVar[str] = "set_opposition"

    opposed: bool


@dataclass(frozen=True)
class AnswerProtection:
    """Contrat ailleurs / Pas couvert / À approfondir for one protection."""

    trigger: ClassVar[str] = "answer_protection"

    protection: str
    answer: ProtectionAnswer
    insurer: str | None = None
    renewal_on: date | None = None


@dataclass(frozen=True)
class SetPriority:
    """Mark (or unmark) a gap as one of the call's 2-3 priorities, with the reason (duty of advice)."""

    trigger: ClassVar[str] = "set_priority"

    protection: str
    priority: bool
    reason: str | None = None


@dataclass(frozen=True)
class RecordNeed:
    """A need the client expressed, in his words."""

    trigger: ClassVar[str] = "record_need"

    text: str


@dataclass(frozen=True)
class FinishRebound:
    """commercial_rebound -> action_plan."""

    trigger: ClassVar[str] = "finish_rebound"


@dataclass(frozen=True)
class AddAction:
    """Créer devis / Planifier RDV / Programmer relance: one dated line of the action plan."""

    trigger: ClassVar[str] = "add_action"

    kind: ActionKind
    due_on: date
    owner: str
    purpose: str | None = None  # "bilan_global": the global review the guide proposes
    reason: str | None = None
    aim: Aim = Aim.commercial  # a devis and the global review are commercial whatever is said here


@dataclass(frozen=True)
class RemoveAction:
    """Withdraw an action entered by mistake, before the case closes."""

    trigger: ClassVar[str] = "remove_action"

    action_id: int


@dataclass(frozen=True)
class CompleteAction:
    """Mark an action of the plan done (from its reminder); allowed after the case closed."""

    trigger: ClassVar[str] = "complete_action"

    action_id: int


@dataclass(frozen=True)
class Close:
    """action_plan -> closed as completed: needs a dated action plan."""

    trigger: ClassVar[str] = "close"


@dataclass(frozen=True)
class CloseEarly:
    """Close before the end: unreachable after N attempts, client refuses, or duplicate case."""

    trigger: ClassVar[str] = "close_early"

    reason: CloseReason
    note: str | None = None


@dataclass(frozen=True)
class Reassign:
    """A lead hands the case to another agent."""

    trigger: ClassVar[str] = "reassign"

    agent: str


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
)
