"""The modals that collect what a button cannot: a changed field, a missing piece, a contract held
elsewhere, an action, a callback, an early closing, a need, a priority's reason, a case to open, a new agent.

Each returns the view as a dict for `views.open`, validated by slack_sdk's `View`. Its callback_id is an
`ids.MODAL_*`, its private_metadata `encode(case_id, ...)`, its inputs the `ids.INPUT_*` that
`bot.forms` reads back. Arguments decoded from a button's value are untrusted: one that names no field,
contract or protection of the case raises `BadPayload`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DatePickerElement,
    DateTimePickerElement,
    InputBlock,
    InputInteractiveElement,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
    UserMultiSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

import wording
from bot.payloads import BadPayload, encode
from bot.views import ids
from bot.views.blocks import context, section
from bot.views.choices import Choices, field_choices, label_of, pieces, protections
from bot.views.text import client_name, clip, day, escape, label, t
from flows.case import ActionKind, Aim, Case, CloseReason, Contract
from flows.engine import BILAN_GLOBAL, MAX_FREE_TEXT
from flows.script import describe_contract, recovery_modes

TITLE_MAX = 24
OPTION_TEXT = 75
MAX_OPTIONS = 100
FIELD_MAX = 250  # one client-file value, an insurer's name
POSTCODE_MAX = 10
CLOSE_EARLY_REASONS = (CloseReason.unreachable, CloseReason.refused, CloseReason.duplicate)


def _modal(
    callback_id: str, name: str, metadata: str, blocks: Sequence[Block], *, submit: bool = True
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=clip(t(f"modals.{name}.title"), TITLE_MAX),
        submit=clip(t("modals.submit"), TITLE_MAX) if submit else None,
        close=clip(t("modals.cancel"), TITLE_MAX),
        private_metadata=metadata,
        blocks=list(blocks),
    )
    return view.to_dict()


def _input(block: str, text: str, element: InputInteractiveElement, *, optional: bool = False,
           hint: str | None = None) -> InputBlock:
    return InputBlock(block_id=block, label=clip(text, 2000), element=element, optional=optional, hint=hint)


def _options(choices: Choices) -> list[Option]:
    return [Option(value=code, text=clip(text, OPTION_TEXT)) for code, text in choices[:MAX_OPTIONS]]


def _select(block: str, choices: Choices, initial: str | None = None) -> StaticSelectElement:
    options = _options(choices)
    chosen = next((o for o in options if o.value == initial), None)
    return StaticSelectElement(action_id=block, options=options, initial_option=chosen,
                               placeholder=t("modals.choose"))


def _text(block: str, *, initial: str | None = None, multiline: bool = False,
          limit: int = MAX_FREE_TEXT) -> PlainTextInputElement:
    return PlainTextInputElement(action_id=block, initial_value=(initial or "")[:limit] or None,
                                 multiline=multiline, max_length=limit)


def _check(block: str, code: str, text: str) -> CheckboxesElement:
    return CheckboxesElement(action_id=block, options=_options([(code, text)]))


def _contract(case: Case, number: object) -> Contract:
    contract = next((c for c in case.contracts if c.number == number), None)
    if contract is None:
        raise BadPayload("no such contract in this case")
    return contract


def profile_field_modal(case: Case, field: str) -> dict[str, Any]:
    """"Modifié" on a client-file field: a select for the situations, a text input holding the current
    value for the others (SIREN, NAF and activité only exist for pro and TNS clients)."""
    if field not in case.client.profile_fields():
        raise BadPayload("not a field of this client's file")
    current = case.client.value(field)
    options = field_choices(field)
    element: InputInteractiveElement = (
        _select(ids.INPUT_VALUE, options, current)
        if options
        else _text(ids.INPUT_VALUE, initial=current, limit=FIELD_MAX)
    )
    hint = wording.data("slack.modals.profile_field.hints").get(field)
    shown = label_of(options, current) if options else current
    blocks: list[Block] = [
        context(t("modals.profile_field.current", value=escape(shown) if shown else t("steps.empty"))),
        _input(ids.INPUT_VALUE, t("modals.profile_field.new_value", field=label("field", field)), element, hint=hint),
    ]
    if field == "address":
        # The postcode follows the address (time zone, public holidays): required, checked against it.
        blocks.append(_input(ids.INPUT_POSTCODE, t("modals.profile_field.postcode"),
                             _text(ids.INPUT_POSTCODE, initial=case.client.postcode, limit=POSTCODE_MAX),
                             hint=t("modals.profile_field.postcode_hint")))
    return _modal(ids.MODAL_PROFILE_FIELD, "profile_field", encode(case.id, f=field), blocks)


def missing_piece_modal(case: Case, contract_number: str) -> dict[str, Any]:
    """"Pièce manquante": the piece (catalogue of the product's family, or typed) and how it will come."""
    contract = _contract(case, contract_number)
    blocks: list[Block] = [
        context(t("modals.missing_piece.contract", number=escape(contract.number),
                  description=escape(describe_contract(contract, case.client.postcode)))),
        _input(ids.INPUT_PIECE, t("modals.missing_piece.piece"), _select(ids.INPUT_PIECE, pieces(contract)),
               optional=True),
        _input(ids.INPUT_PIECE_OTHER, t("modals.missing_piece.other"),
               _text(ids.INPUT_PIECE_OTHER, limit=FIELD_MAX), optional=True, hint=t("modals.missing_piece.other_hint")),
        _input(ids.INPUT_RECOVERY, t("modals.missing_piece.recovery"), _select(ids.INPUT_RECOVERY, recovery_modes())),
    ]
    return _modal(ids.MODAL_MISSING_PIECE, "missing_piece", encode(case.id, n=contract.number), blocks)


def elsewhere_modal(case: Case, protection: str | None) -> dict[str, Any]:
    """"Contrat ailleurs": which protection (preselected from its row), the insurer, the renewal date."""
    choices = protections(case.client)
    if protection is not None and protection not in dict(choices):
        raise BadPayload("not a protection of the catalogue")
    blocks: list[Block] = [
        _input(ids.INPUT_PROTECTION, t("modals.elsewhere.protection"),
               _select(ids.INPUT_PROTECTION, choices, protection)),
        _input(ids.INPUT_INSURER, t("modals.elsewhere.insurer"), _text(ids.INPUT_INSURER, limit=FIELD_MAX)),
        _input(ids.INPUT_RENEWAL, t("modals.elsewhere.renewal"), DatePickerElement(action_id=ids.INPUT_RENEWAL),
               optional=True),
    ]
    return _modal(ids.MODAL_ELSEWHERE, "elsewhere", encode(case.id, p=protection), blocks)


def action_modal(case: Case, kind: ActionKind, owner_user_id: str | None, *, commercial: bool) -> dict[str, Any]:
    """An action of the plan: kind, due date, owner (a Slack user, the agent by default: pass his user ID),
    its aim, "bilan global" purpose and the reason (duty of advice). Without the client's agreement
    (`commercial` false) only administrative actions are offered: no devis, no global review."""
    kinds = [(k.value, label("plan_kind", k.value)) for k in ActionKind if commercial or k is not ActionKind.devis]
    aims = _options([(a.value, label("aim", a.value)) for a in Aim if commercial or a is Aim.administrative])
    blocks: list[Block] = [
        _input(ids.INPUT_KIND, t("modals.action.kind"), _select(ids.INPUT_KIND, kinds, kind.value)),
        _input(ids.INPUT_DUE, t("modals.action.due"), DatePickerElement(action_id=ids.INPUT_DUE)),
        _input(ids.INPUT_OWNER, t("modals.action.owner"),
               UserSelectElement(action_id=ids.INPUT_OWNER, initial_user=owner_user_id)),
        _input(ids.INPUT_AIM, t("modals.action.aim"),
               RadioButtonsElement(action_id=ids.INPUT_AIM, options=aims, initial_option=aims[-1]),
               hint=t("modals.action.aim_hint")),
    ]
    if commercial:
        blocks.append(_input(ids.INPUT_PURPOSE, t("modals.action.purpose"),
                             _check(ids.INPUT_PURPOSE, BILAN_GLOBAL, label("plan_purpose", BILAN_GLOBAL)), optional=True))
    blocks.append(_input(ids.INPUT_REASON, t("modals.action.reason"), _text(ids.INPUT_REASON, multiline=True),
                         optional=True, hint=t("modals.action.reason_hint")))
    return _modal(ids.MODAL_ACTION, "action", encode(case.id, k=kind.value), blocks)


def callback_modal(case: Case, express_minutes: int) -> dict[str, Any]:
    """"Rappeler plus tard": the booked date and time, whether the client asked for that exact time and, if
    so, his request in his words (it allows one attempt within `express_minutes` of that time)."""
    blocks: list[Block] = [
        _input(ids.INPUT_CALLBACK_AT, t("modals.callback.at"), DateTimePickerElement(action_id=ids.INPUT_CALLBACK_AT),
               hint=t("modals.callback.hours")),
        _input(ids.INPUT_CLIENT_REQUESTED, t("modals.callback.requested_label"),
               _check(ids.INPUT_CLIENT_REQUESTED, "yes", t("modals.callback.requested")), optional=True),
        _input(ids.INPUT_REQUEST_WORDING, t("modals.callback.wording"),
               _text(ids.INPUT_REQUEST_WORDING, limit=FIELD_MAX), optional=True,
               hint=t("modals.callback.wording_hint", minutes=express_minutes)),
    ]
    return _modal(ids.MODAL_CALLBACK, "callback", encode(case.id), blocks)


def close_early_modal(case: Case) -> dict[str, Any]:
    """Closing before the end: injoignable, refus or doublon, and a note."""
    reasons = _options([(r.value, label("close_reason", r.value)) for r in CLOSE_EARLY_REASONS])
    blocks: list[Block] = [
        _input(ids.INPUT_CLOSE_REASON, t("modals.close_early.reason"),
               RadioButtonsElement(action_id=ids.INPUT_CLOSE_REASON, options=reasons)),
        _input(ids.INPUT_NOTE, t("modals.close_early.note"), _text(ids.INPUT_NOTE, multiline=True), optional=True),
    ]
    return _modal(ids.MODAL_CLOSE_EARLY, "close_early", encode(case.id), blocks)


def need_modal(case: Case) -> dict[str, Any]:
    """"Besoin exprimé": the client's need, in his words."""
    blocks = [_input(ids.INPUT_NEED, t("modals.need.text"), _text(ids.INPUT_NEED, multiline=True))]
    return _modal(ids.MODAL_NEED, "need", encode(case.id), blocks)


def priority_modal(case: Case, protection: str) -> dict[str, Any]:
    """"Prioritaire" on a gap: why it is one of the call's 2-3 priorities (duty of advice)."""
    names = dict(protections(case.client))
    if protection not in names:
        raise BadPayload("not a protection of the catalogue")
    blocks: list[Block] = [
        context(t("modals.priority.protection", protection=escape(names[protection]))),
        _input(ids.INPUT_REASON, t("modals.priority.reason"), _text(ids.INPUT_REASON, multiline=True)),
    ]
    return _modal(ids.MODAL_PRIORITY, "priority", encode(case.id, p=protection), blocks)


def open_case_modal(choices: Choices) -> dict[str, Any]:
    """`/m3 ouvrir`: pick one of the clients due and not opened yet; `choices` are (value, label) pairs,
    the value being what the opener needs (at most 150 characters, the first 100 shown)."""
    if not choices:
        blocks: list[Block] = [section(t("modals.open_case.none"))]
        return _modal(ids.MODAL_OPEN_CASE, "open_case", encode(None), blocks, submit=False)
    blocks = [_input(ids.INPUT_CASE, t("modals.open_case.client"), _select(ids.INPUT_CASE, choices))]
    if len(choices) > MAX_OPTIONS:
        blocks.append(context(t("more", count=len(choices) - MAX_OPTIONS)))
    return _modal(ids.MODAL_OPEN_CASE, "open_case", encode(None), blocks)


def close_out_of_time_modal(case: Case) -> dict[str, Any]:
    """A lead closes a case set aside as out of time without a call: his reason is required."""
    blocks: list[Block] = [
        section(t("modals.close_out_of_time.case", client=escape(client_name(case)),
                  date=day(case.m3_date))),
        _input(ids.INPUT_NOTE, t("modals.close_out_of_time.reason"), _text(ids.INPUT_NOTE, multiline=True),
               hint=t("modals.close_out_of_time.reason_hint")),
    ]
    return _modal(ids.MODAL_CLOSE_OUT_OF_TIME, "close_out_of_time", encode(case.id), blocks)


def reassign_modal(case: Case, agent_user_id: str | None) -> dict[str, Any]:
    """A lead hands the case to another agent (the current agent's user ID preselected)."""
    blocks = [
        _input(ids.INPUT_AGENT, t("modals.reassign.agent"),
               UserSelectElement(action_id=ids.INPUT_AGENT, initial_user=agent_user_id)),
    ]
    return _modal(ids.MODAL_REASSIGN, "reassign", encode(case.id), blocks)


MAX_COLLEAGUES = 10  # a hand-over spreads over a few colleagues, not the whole agency


def handover_modal() -> dict[str, Any]:
    """A lead hands over every open case of an absent agent to one or several colleagues, with his reason."""
    blocks: list[Block] = [
        section(t("modals.handover.intro")),
        _input(ids.INPUT_ABSENT, t("modals.handover.absent"), UserSelectElement(action_id=ids.INPUT_ABSENT)),
        _input(ids.INPUT_COLLEAGUES, t("modals.handover.colleagues"),
               UserMultiSelectElement(action_id=ids.INPUT_COLLEAGUES, max_selected_items=MAX_COLLEAGUES),
               hint=t("modals.handover.colleagues_hint")),
        _input(ids.INPUT_REASON, t("modals.handover.reason"), _text(ids.INPUT_REASON, multiline=True),
               hint=t("modals.handover.reason_hint")),
    ]
    return _modal(ids.MODAL_HANDOVER, "handover", encode(None), blocks)


RGPD_RIGHTS = ("access", "erase")  # droit d'accès (art. 15), droit à l'effacement (art. 17)
ERASE_CONFIRMED = "confirmed"
CLIENT_NUMBER_MAX = 64  # a management system's client number is a few characters


def rgpd_modal() -> dict[str, Any]:
    """A lead carries out a client's RGPD request: the client's number in the management system, the right
    (access: his data delivered as a file in the lead's DM; erasure), and, for an erasure, which cannot be
    undone, an explicit confirmation."""
    rights = _options([(right, t(f"modals.rgpd.right.{right}")) for right in RGPD_RIGHTS])
    blocks: list[Block] = [
        section(t("modals.rgpd.intro")),
        _input(ids.INPUT_CLIENT_NUMBER, t("modals.rgpd.client"), _text(ids.INPUT_CLIENT_NUMBER, limit=CLIENT_NUMBER_MAX),
               hint=t("modals.rgpd.client_hint")),
        _input(ids.INPUT_RGPD_RIGHT, t("modals.rgpd.right_label"),
               RadioButtonsElement(action_id=ids.INPUT_RGPD_RIGHT, options=rights)),
        _input(ids.INPUT_RGPD_CONFIRM, t("modals.rgpd.confirm_label"),
               _check(ids.INPUT_RGPD_CONFIRM, ERASE_CONFIRMED, t("modals.rgpd.confirm")), optional=True,
               hint=t("modals.rgpd.confirm_hint")),
    ]
    return _modal(ids.MODAL_RGPD, "rgpd", encode(None), blocks)


def reopen_modal(case: Case) -> dict[str, Any]:
    """A lead reopens a case closed by mistake: his reason is required and kept in the case's trail."""
    blocks: list[Block] = [
        section(t("modals.reopen.case", client=escape(client_name(case)),
                  date=day(case.closed_at) if case.closed_at else "")),
        _input(ids.INPUT_REASON, t("modals.reopen.reason"), _text(ids.INPUT_REASON, multiline=True),
               hint=t("modals.reopen.reason_hint")),
    ]
    return _modal(ids.MODAL_REOPEN, "reopen", encode(case.id), blocks)
