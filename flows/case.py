"""The M+3 case as the guide describes it: one client, his new contracts, and every answer of the call.

Plain dataclasses, no Slack and no database: `storage` loads a `Case` from its tables and writes it back,
`flows.engine` applies one command to it. Enum values are the stable codes stored in the database and
carried in Slack payloads; the French labels live in `flows/texts/*.yml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class State(StrEnum):
    """The eight states of the guide (section 5.1)."""

    preparation = "preparation"
    contact_attempt = "contact_attempt"
    scheduled_callback = "scheduled_callback"
    admin_profile_update = "admin_profile_update"
    admin_contract_validation = "admin_contract_validation"
    commercial_rebound = "commercial_rebound"
    action_plan = "action_plan"
    closed = "closed"


class ClientType(StrEnum):
    particulier = "particulier"
    professionnel = "professionnel"
    tns = "tns"


class Origin(StrEnum):
    chalandise = "chalandise"
    recommandation = "recommandation"
    apporteur = "apporteur"
    lead = "lead"


class AttemptOutcome(StrEnum):
    """How one call attempt ended: the guide's two availability buttons plus what real calls add."""

    available = "available"  # Client disponible
    callback = "callback"  # Rappeler plus tard
    no_answer = "no_answer"  # messagerie / pas de réponse
    refused = "refused"  # le client refuse l'appel


class ProfileAnswer(StrEnum):
    confirmed = "confirmed"  # Confirmé
    modified = "modified"  # Modifié
    not_given = "not_given"  # Non communiqué


class ContractAnswer(StrEnum):
    signed = "signed"  # Signé
    missing_piece = "missing_piece"  # Pièce manquante
    follow_up = "follow_up"  # À relancer


class ProtectionAnswer(StrEnum):
    elsewhere = "elsewhere"  # Contrat ailleurs
    not_covered = "not_covered"  # Pas couvert
    to_explore = "to_explore"  # À approfondir


class ActionKind(StrEnum):
    devis = "devis"  # Créer devis
    rdv = "rdv"  # Planifier RDV
    relance = "relance"  # Programmer relance


class Aim(StrEnum):
    """What an action of the plan serves: the administrative follow-up, or the commercial rebound (a devis
    and the global review always are); only the latter needs the client's consent."""

    administrative = "administrative"  # a relance for a missing piece, an RDV to bring documents
    commercial = "commercial"


class ActionStatus(StrEnum):
    todo = "todo"
    done = "done"
    cancelled = "cancelled"  # withdrawn before closing: kept, not deleted, so the trail stays whole


class CloseReason(StrEnum):
    """Why a case closed; only `completed` requires the dated action plan."""

    completed = "completed"
    unreachable = "unreachable"
    refused = "refused"
    duplicate = "duplicate"
    out_of_time = "out_of_time"  # set aside as out of time, closed by a lead without a call (his reason noted)
    rgpd_erased = "rgpd_erased"  # the client's data was erased (RGPD): not an outcome of the call
    # The call went through but the client declined or withdrew the commercial rebound (or opposes it):
    # the case ends without one, counted apart from `refused` (the client refused the call itself).
    rebound_refused = "rebound_refused"


# The client-file fields the profile step walks through, in the order of the guide (4.3).
# Pro fields are asked only for professionnel / TNS clients.
PERSONAL_FIELDS: tuple[str, ...] = (
    "last_name",
    "first_name",
    "address",
    "phone",
    "email",
    "marital_status",
    "professional_status",
)
PRO_FIELDS: tuple[str, ...] = ("siren", "naf", "activity")


@dataclass
class ClientFile:
    """The client file as the agency's management system (Lagon) knows it, updated during the call."""

    number: str
    client_type: ClientType
    last_name: str
    first_name: str = ""
    civility: str = ""
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    postcode: str | None = None
    marital_status: str | None = None
    professional_status: str | None = None
    siren: str | None = None
    naf: str | None = None
    naf_version: str | None = None
    activity: str | None = None
    account_manager: str | None = None  # e-mail of the chargé de clientèle
    # The client asked never to be called again for commercial purposes: permanent until a lead lifts it.
    opposition_at: datetime | None = None
    # The client declined (or withdrew) a commercial rebound: no commercial call before this day.
    no_commercial_until: date | None = None

    @property
    def is_pro(self) -> bool:
        return self.client_type in (ClientType.professionnel, ClientType.tns)

    def profile_fields(self) -> tuple[str, ...]:
        return PERSONAL_FIELDS + (PRO_FIELDS if self.is_pro else ())

    def value(self, name: str) -> str | None:
        return getattr(self, name)


@dataclass
class Contract:
    number: str
    product: str
    formula: str
    subscribed_on: date
    origin: Origin
    signed: bool
    missing_pieces: list[str] = field(default_factory=list)
    seller: str | None = None  # e-mail of the vendeur
    terminated_on: date | None = None


@dataclass
class ProfileCheck:
    """One client-file field answered during the profile step (old and new value kept for the trace)."""

    field: str
    answer: ProfileAnswer
    old_value: str | None
    new_value: str | None
    at: datetime
    by: str


@dataclass
class ContractCheck:
    """One contract answered during the contract step; a missing piece carries its nature and recovery mode."""

    contract_number: str
    answer: ContractAnswer
    at: datetime
    by: str
    piece: str | None = None
    recovery: str | None = None


@dataclass
class Agreement:
    """The client's recorded consent to talk about his other contracts (loi du 30 juin 2025)."""

    at: datetime
    by: str
    wording: str
    agreed: bool = True
    withdrawn_at: datetime | None = None  # the client withdrew his agreement during the call

    @property
    def given(self) -> bool:
        """The agreement holds: given and not withdrawn."""
        return self.agreed and self.withdrawn_at is None


@dataclass
class ProtectionCheck:
    """One protection checked in the rebound: held elsewhere (insurer, renewal) or a gap."""

    protection: str
    answer: ProtectionAnswer
    at: datetime
    by: str
    insurer: str | None = None
    renewal_on: date | None = None
    priority: bool = False
    reason: str | None = None  # duty of advice: why it is a priority / what is proposed


@dataclass
class Need:
    """A need the client expressed, dated (duty of advice)."""

    text: str
    at: datetime
    by: str


@dataclass
class Action:
    """One line of the dated action plan."""

    kind: ActionKind
    due_on: date
    owner: str
    created_at: datetime
    created_by: str
    id: int | None = None  # set by storage once saved
    purpose: str | None = None  # "bilan_global" for the global review proposed by the guide
    reason: str | None = None  # duty of advice: why this is proposed
    aim: Aim = Aim.commercial
    status: ActionStatus = ActionStatus.todo
    done_at: datetime | None = None


@dataclass
class Attempt:
    """One call attempt, whatever its case: the calling rules count them per client."""

    at: datetime
    by: str
    outcome: AttemptOutcome
    channel: str = "telephone"
    callback_at: datetime | None = None
    client_requested: bool = False  # the client asked for that exact time (allows out-of-hours)
    case_id: int | None = None


@dataclass
class Case:
    """One M+3 case: one client, the contracts subscribed together, and the call's answers."""

    client: ClientFile
    contracts: list[Contract]
    m3_date: date
    seller: str | None  # e-mail of the agent who sold the first contract
    agent: str | None  # e-mail of the agent who calls (keeps the case until it closes)
    id: int | None = None
    state: State = State.preparation
    caller: str | None = None  # who is calling: the seller or a named colleague
    callback_at: datetime | None = None
    callback_client_requested: bool = False
    profile: dict[str, ProfileCheck] = field(default_factory=dict)
    contract_checks: dict[str, ContractCheck] = field(default_factory=dict)
    admin_profile_done_at: datetime | None = None
    admin_contracts_done_at: datetime | None = None
    agreement: Agreement | None = None
    protections: dict[str, ProtectionCheck] = field(default_factory=dict)
    needs: list[Need] = field(default_factory=list)
    rebound_done_at: datetime | None = None
    actions: list[Action] = field(default_factory=list)
    # Attempts on this client across all his cases and agents, as far back as the calling rules look.
    client_attempts: list[Attempt] = field(default_factory=list)
    close_reason: CloseReason | None = None
    close_note: str | None = None
    closed_at: datetime | None = None
    opened_at: datetime | None = None
    out_of_time_at: datetime | None = None  # listed as out of time instead of being opened (catch-up rule)

    @property
    def origin(self) -> Origin:
        return self.contracts[0].origin

    @property
    def first_subscription(self) -> date:
        return min(c.subscribed_on for c in self.contracts)
