"""Turn a modal's submitted values (`view["state"]["values"]`) into a workflow command, or into the errors
Slack shows under the fields (`{"response_action": "errors", "errors": ...}`).

Every submitted value is untrusted: an unknown option, an oversized text, a malformed date or a missing
required value becomes a French error keyed by the input's block_id, never an exception. The arguments
the listener decoded from the modal's private_metadata are checked against the case; one the bot could not
have written raises `bot.payloads.BadPayload`, as a forged button value does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic import ValidationError

import wording
from bot.payloads import BadPayload
from bot.views import ids
from bot.views.choices import Choices, field_choices, pieces, protections
from bot.views.modals import (
    CLIENT_NUMBER_MAX,
    CLOSE_EARLY_REASONS,
    ERASE_CONFIRMED,
    FIELD_MAX,
    POSTCODE_MAX,
    RGPD_RIGHTS,
)
from bot.views.text import t
from config.agency import AgencySettings
from flows.case import (
    ActionKind,
    Aim,
    AttemptOutcome,
    Case,
    CloseReason,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
)
from flows.commands import (
    AddAction,
    AnswerContract,
    AnswerProfile,
    AnswerProtection,
    CloseEarly,
    Reassign,
    RecordAttempt,
    RecordNeed,
    Reopen,
    SetPriority,
)
from flows.engine import BILAN_GLOBAL, MAX_FREE_TEXT
from flows.script import recovery_modes
from flows.validation import Invalid, normalize_field, normalize_postcode, postcode_from_address

FormErrors = dict[str, str]


class _Form:
    """Reads one submission; each reader returns None and records an error when the value is unusable."""

    def __init__(self, values: Any) -> None:
        self.values: Mapping[str, Any] = values if isinstance(values, Mapping) else {}
        self.errors: FormErrors = {}

    def _state(self, block: str) -> Mapping[str, Any]:
        inputs = self.values.get(block)
        state = inputs.get(block) if isinstance(inputs, Mapping) else None
        return state if isinstance(state, Mapping) else {}

    def fail(self, block: str, message: str) -> None:
        self.errors.setdefault(block, message)

    def _missing(self, block: str, required: bool) -> None:
        if required:
            self.fail(block, t("errors.required"))

    def text(self, block: str, *, required: bool, limit: int = MAX_FREE_TEXT) -> str | None:
        value = self._state(block).get("value")
        if not isinstance(value, str) or not value.strip():
            return self._missing(block, required)
        if len(value) > limit:
            return self.fail(block, t("errors.too_long", max=limit))
        return value.strip()

    def choice(self, block: str, allowed: Collection[str], *, required: bool) -> str | None:
        option = self._state(block).get("selected_option")
        value = option.get("value") if isinstance(option, Mapping) else None
        if value is None:
            return self._missing(block, required)
        if value not in allowed:
            return self.fail(block, t("errors.unknown_option"))
        return value

    def checked(self, block: str, allowed: Collection[str]) -> set[str]:
        options = self._state(block).get("selected_options")
        values = {o.get("value") for o in options if isinstance(o, Mapping)} if isinstance(options, list) else set()
        if not values <= set(allowed):
            self.fail(block, t("errors.unknown_option"))
        return values & set(allowed)

    def day(self, block: str, *, required: bool, not_before: date | None = None) -> date | None:
        value = self._state(block).get("selected_date")
        if not value:
            return self._missing(block, required)
        try:
            picked = date.fromisoformat(value)
        except (TypeError, ValueError):
            return self.fail(block, t("errors.bad_date"))
        if not_before is not None and picked < not_before:
            return self.fail(block, t("errors.past_date"))
        return picked

    def moment(self, block: str, *, after: datetime) -> datetime | None:
        value = self._state(block).get("selected_date_time")
        if value is None:
            return self._missing(block, True)
        try:
            picked = datetime.fromtimestamp(int(value), tz=UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return self.fail(block, t("errors.bad_date"))
        if picked <= after:
            return self.fail(block, t("errors.past_moment"))
        return picked

    def user(self, block: str, emails: Mapping[str, str]) -> str | None:
        user = self._state(block).get("selected_user")
        if not isinstance(user, str) or not user:
            return self._missing(block, True)
        email = emails.get(user)
        if email is None:
            return self.fail(block, t("errors.unknown_user"))
        return email

    def users(self, block: str, emails: Mapping[str, str]) -> list[str]:
        users = self._state(block).get("selected_users")
        if not isinstance(users, list) or not users:
            self._missing(block, True)
            return []
        found = [emails.get(user) if isinstance(user, str) else None for user in users]
        if None in found:
            self.fail(block, t("errors.unknown_user"))
            return []
        return [email for email in found if email is not None]


def _codes(choices: Choices) -> set[str]:
    return {code for code, _ in choices}


def parse_profile_change(values: Any, case: Case, field: str, today: date) -> AnswerProfile | FormErrors:
    """"Modifié" on `field` (from the modal's metadata): the new value, checked and normalised
    (phone by the client's postcode, e-mail, SIREN, NAF; situations from the catalogue)."""
    if field not in case.client.profile_fields():
        raise BadPayload("not a field of this client's file")
    form = _Form(values)
    options = field_choices(field)
    if options:
        value = form.choice(ids.INPUT_VALUE, _codes(options), required=True)
    else:
        value = form.text(ids.INPUT_VALUE, required=True, limit=FIELD_MAX)
        if value is not None:
            try:
                value = normalize_field(field, value, postcode=case.client.postcode, on=today)
            except Invalid as error:
                form.fail(ids.INPUT_VALUE, wording.refusal(error))
    postcode = _postcode(form, value) if field == "address" else None
    if form.errors:
        return form.errors
    return AnswerProfile(field=field, answer=ProfileAnswer.modified, new_value=value, postcode=postcode)


def _postcode(form: _Form, address: str | None) -> str | None:
    """The postcode of a changed address: required, five digits, and the address's own when it holds one
    (the field is pre-filled with the old postcode: left as is, it would keep the old time zone)."""
    typed = form.text(ids.INPUT_POSTCODE, required=True, limit=POSTCODE_MAX)
    if typed is None:
        return None
    try:
        postcode = normalize_postcode(typed)
    except Invalid as error:
        return form.fail(ids.INPUT_POSTCODE, wording.refusal(error))
    found = postcode_from_address(address)
    if found is not None and found != postcode:
        return form.fail(ids.INPUT_POSTCODE, t("errors.postcode_mismatch", found=found))
    return postcode


def parse_missing_piece(values: Any, case: Case, contract_number: str) -> AnswerContract | FormErrors:
    """"Pièce manquante": a catalogue piece or one typed under "autre", and the recovery mode."""
    contract = next((c for c in case.contracts if c.number == contract_number), None)
    if contract is None:
        raise BadPayload("no such contract in this case")
    form = _Form(values)
    piece = form.choice(ids.INPUT_PIECE, _codes(pieces(contract)), required=False)
    other = form.text(ids.INPUT_PIECE_OTHER, required=False, limit=FIELD_MAX)
    recovery = form.choice(ids.INPUT_RECOVERY, _codes(recovery_modes()), required=True)
    if piece is None and other is None and ids.INPUT_PIECE not in form.errors:
        form.fail(ids.INPUT_PIECE, t("errors.piece_required"))
    if form.errors:
        return form.errors
    return AnswerContract(contract.number, ContractAnswer.missing_piece, piece=piece or other, recovery=recovery)


def parse_elsewhere(values: Any, case: Case) -> AnswerProtection | FormErrors:
    """"Contrat ailleurs": the protection, the insurer and the renewal date (any date: it may be the last one)."""
    form = _Form(values)
    protection = form.choice(ids.INPUT_PROTECTION, _codes(protections(case.client)), required=True)
    insurer = form.text(ids.INPUT_INSURER, required=True, limit=FIELD_MAX)
    renewal = form.day(ids.INPUT_RENEWAL, required=False)
    if form.errors or protection is None:
        return form.errors
    return AnswerProtection(protection, ProtectionAnswer.elsewhere, insurer=insurer, renewal_on=renewal)


def parse_action(values: Any, today: date, emails: Mapping[str, str]) -> AddAction | FormErrors:
    """An action of the plan, due today or later; `emails` maps Slack user IDs to agents' e-mails (an owner
    outside it is refused: the plan names agents of the agency)."""
    form = _Form(values)
    kind = form.choice(ids.INPUT_KIND, {k.value for k in ActionKind}, required=True)
    due = form.day(ids.INPUT_DUE, required=True, not_before=today)
    owner = form.user(ids.INPUT_OWNER, emails)
    purpose = form.checked(ids.INPUT_PURPOSE, {BILAN_GLOBAL})
    reason = form.text(ids.INPUT_REASON, required=False)
    # No aim chosen is taken as commercial: the side that needs the client's agreement.
    aim = form.choice(ids.INPUT_AIM, {a.value for a in Aim}, required=False) or Aim.commercial.value
    if form.errors or kind is None or due is None or owner is None:
        return form.errors
    return AddAction(ActionKind(kind), due, owner, purpose=BILAN_GLOBAL if purpose else None, reason=reason,
                     aim=Aim(aim))


def parse_callback(values: Any, now: datetime) -> RecordAttempt | FormErrors:
    """"Rappeler plus tard": a time after `now`; the calling hours are the engine's to check."""
    form = _Form(values)
    at = form.moment(ids.INPUT_CALLBACK_AT, after=now)
    requested = bool(form.checked(ids.INPUT_CLIENT_REQUESTED, {"yes"}))
    wording = form.text(ids.INPUT_REQUEST_WORDING, required=False, limit=FIELD_MAX)
    if requested and wording is None and ids.INPUT_REQUEST_WORDING not in form.errors:
        form.fail(ids.INPUT_REQUEST_WORDING, t("errors.request_wording_required"))
    if form.errors:
        return form.errors
    return RecordAttempt(AttemptOutcome.callback, callback_at=at, client_requested=requested,
                         request_wording=wording if requested else None)


def parse_close_early(values: Any) -> CloseEarly | FormErrors:
    form = _Form(values)
    reason = form.choice(ids.INPUT_CLOSE_REASON, {r.value for r in CLOSE_EARLY_REASONS}, required=True)
    note = form.text(ids.INPUT_NOTE, required=False)
    if form.errors or reason is None:
        return form.errors
    return CloseEarly(CloseReason(reason), note=note)


def parse_close_out_of_time(values: Any) -> CloseEarly | FormErrors:
    """A lead's reason for closing an out-of-time case without a call (required)."""
    form = _Form(values)
    note = form.text(ids.INPUT_NOTE, required=True)
    return form.errors if form.errors or note is None else CloseEarly(CloseReason.out_of_time, note=note)


def parse_need(values: Any) -> RecordNeed | FormErrors:
    form = _Form(values)
    text = form.text(ids.INPUT_NEED, required=True)
    return form.errors if form.errors or text is None else RecordNeed(text)


def parse_priority(values: Any, case: Case, protection: str) -> SetPriority | FormErrors:
    """"Prioritaire" on `protection` (from the metadata), with its reason."""
    if protection not in _codes(protections(case.client)):
        raise BadPayload("not a protection of the catalogue")
    form = _Form(values)
    reason = form.text(ids.INPUT_REASON, required=True)
    return form.errors if form.errors or reason is None else SetPriority(protection, True, reason=reason)


def parse_open_case(values: Any, allowed: Collection[str]) -> str | FormErrors:
    """`/m3 ouvrir`: the value of the chosen option, if it is still one of `allowed`."""
    form = _Form(values)
    chosen = form.choice(ids.INPUT_CASE, allowed, required=True)
    return form.errors if form.errors or chosen is None else chosen


def parse_reassign(values: Any, emails: Mapping[str, str]) -> Reassign | FormErrors:
    """The new agent; `emails` maps Slack user IDs to agents' e-mails."""
    form = _Form(values)
    agent = form.user(ids.INPUT_AGENT, emails)
    return form.errors if form.errors or agent is None else Reassign(agent)


@dataclass(frozen=True)
class HandoverRequest:
    """What a lead asked in the hand-over modal: whose open cases, to whom, why (`flows.engine.hand_over`)."""

    absent: str
    colleagues: list[str]
    reason: str


def parse_handover(values: Any, emails: Mapping[str, str]) -> HandoverRequest | FormErrors:
    """The absent agent, the colleagues (agents known to the bot) and the lead's reason (required)."""
    form = _Form(values)
    absent = form.user(ids.INPUT_ABSENT, emails)
    colleagues = form.users(ids.INPUT_COLLEAGUES, emails)
    reason = form.text(ids.INPUT_REASON, required=True)
    if form.errors or absent is None or reason is None:
        return form.errors
    return HandoverRequest(absent, colleagues, reason)


@dataclass(frozen=True)
class RgpdRequest:
    number: str  # the client's number in the management system
    right: str  # one of `bot.views.modals.RGPD_RIGHTS`


def parse_rgpd(values: Any) -> RgpdRequest | FormErrors:
    """The client's number and the right (both required); an erasure, irreversible, only once confirmed."""
    form = _Form(values)
    number = form.text(ids.INPUT_CLIENT_NUMBER, required=True, limit=CLIENT_NUMBER_MAX)
    right = form.choice(ids.INPUT_RGPD_RIGHT, RGPD_RIGHTS, required=True)
    confirmed = ERASE_CONFIRMED in form.checked(ids.INPUT_RGPD_CONFIRM, (ERASE_CONFIRMED,))
    if right == "erase" and not confirmed:
        form.fail(ids.INPUT_RGPD_CONFIRM, t("modals.rgpd.confirm_missing"))
    if form.errors or number is None or right is None:
        return form.errors
    return RgpdRequest(number, right)


def parse_reopen(values: Any) -> Reopen | FormErrors:
    """A lead's reason for reopening a closed case (required)."""
    form = _Form(values)
    reason = form.text(ids.INPUT_REASON, required=True)
    return form.errors if form.errors or reason is None else Reopen(reason)


# Where a refused agency setting is shown (the hours' rule is about both: under the closing time).
_SETTING_BLOCKS = {"m3_channel": ids.INPUT_CHANNEL, "m3_leads": ids.INPUT_LEADS, "agency_opens": ids.INPUT_OPENS,
                   "agency_closes": ids.INPUT_CLOSES, "agency_hours": ids.INPUT_CLOSES, "m3_caller": ids.INPUT_CALLER,
                   "retention_years": ids.INPUT_RETENTION}


def parse_agency_settings(values: Any) -> AgencySettings | FormErrors:
    """The agency's settings as its admin submitted them, within `config.agency`'s bounds."""
    form = _Form(values)
    option = form._state(ids.INPUT_CALLER).get("selected_option")
    years = form._state(ids.INPUT_RETENTION).get("selected_option")
    submitted = {
        "m3_channel": form._state(ids.INPUT_CHANNEL).get("selected_conversation"),
        "m3_leads": form._state(ids.INPUT_LEADS).get("selected_users") or [],
        "agency_opens": form._state(ids.INPUT_OPENS).get("selected_time"),
        "agency_closes": form._state(ids.INPUT_CLOSES).get("selected_time"),
        "m3_caller": option.get("value") if isinstance(option, Mapping) else None,
        "retention_years": years.get("value") if isinstance(years, Mapping) else None,
    }
    try:
        return AgencySettings.model_validate(submitted)
    except ValidationError as invalid:
        for error in invalid.errors():
            name = str(error["loc"][0]) if error["loc"] else "agency_hours"  # the model's own rule: the hours
            form.fail(_SETTING_BLOCKS[name], t(f"modals.agency_settings.errors.{name}"))
        return form.errors
