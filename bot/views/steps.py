"""One thread message per step of the call, updated in place as the agent answers.

Each builder renders its step from the case alone: the script for that moment, every question with the
file's value and the answer already given, and, only while the case is at that step, the buttons. Once the
case has moved on, re-rendering a step gives its read-only record. `step_message` picks the builder of a
state. `names` always maps agents' e-mails to display names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum

from slack_sdk.models.blocks import Block, ButtonElement

import wording
from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import MAX_BLOCKS, Message, answer_row, button, buttons, context, header, message, script, section
from bot.views.card import closing_notice
from bot.views.choices import field_choices, label_of, protections
from bot.views.text import action_line, client_name, day, escape, label, moment, person, t
from flows.case import (
    Action,
    ActionKind,
    ActionStatus,
    AttemptOutcome,
    Case,
    Contract,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from flows.engine import (
    active_actions,
    allowed_triggers,
    checklist_progress,
    client_commercial_bar,
    commercial_refusal,
    confirmable,
    structuring_protections,
)
from flows.preparation import checklist
from flows.script import (
    action_plan_script,
    agreement_wording,
    contract_script,
    describe_contract,
    opening_script,
    piece_label,
    profile_script,
    rebound_script,
    recovery_modes,
)

# The contact step lists the latest attempts: the calling rules look at 4 in 30 days.
SHOWN_ATTEMPTS = 8
# The action plan lists at most this many actions, one block each, to stay under 50 blocks.
SHOWN_ACTIONS = 30
# Free texts (needs) listed on the rebound step.
SHOWN_NEEDS = 10


def _choices(group: str, codes: Iterable[StrEnum]) -> list[tuple[str, str]]:
    return [(code.value, label(group, code.value)) for code in codes]


def _title(case: Case, state: State) -> Block:
    return header(f"{label('state', state.value)} — {client_name(case)}")


def _text(case: Case, state: State) -> str:
    return t("steps.text", step=label("state", state.value), client=escape(client_name(case)))


def _close_early(case: Case) -> list[ButtonElement]:
    if "close_early" not in allowed_triggers(case.state):
        return []
    return [button(label("buttons", "close_early"), ids.CLOSE_EARLY, encode(case.id), style="danger")]


def _opening(case: Case, names: Mapping[str, str], today: date) -> Block:
    # Before the call starts, the script is the assigned agent's: the seller's or a colleague's variant.
    return script(opening_script(case, case.caller or case.agent or "", names, today))


def _progress(answered: int, total: int) -> Block:
    return context(t("steps.progress", done=answered, total=total))


# --- Préparation dossier ----------------------------------------------------------------------------------


def preparation_step(case: Case, names: Mapping[str, str], today: date) -> Message:
    """The prioritised checklist "à compléter / à valider", the opening script and the start button."""
    items = checklist(case)
    blocks: list[Block] = [_title(case, State.preparation)]
    for kind in ("a_completer", "a_valider"):
        lines = [f"• {escape(item.text)}" for item in items if item.kind == kind]
        if lines:
            blocks.append(section(f"*{wording.t(f'checklist.kinds.{kind}')}*\n" + "\n".join(lines)))
    blocks.append(section(f"*{t('steps.opening_script')}*"))
    blocks.append(_opening(case, names, today))
    if case.state is State.preparation:
        start = button(label("buttons", "start_call"), ids.START_CALL, encode(case.id), style="primary")
        blocks.append(buttons([start, *_close_early(case)]))
    return message(_text(case, State.preparation), blocks)


# --- Conduite d'appel: contact ----------------------------------------------------------------------------


def contact_step(case: Case, names: Mapping[str, str], today: date) -> Message:
    """The opening script, the call outcomes, the attempts so far and, when booked, the callback."""
    blocks: list[Block] = [_title(case, State.contact_attempt)]
    if case.state is State.scheduled_callback and case.callback_at is not None:
        key = "steps.callback_requested" if case.callback_client_requested else "steps.callback"
        blocks.append(section(t(key, when=moment(case.callback_at))))
    blocks.append(_opening(case, names, today))
    attempts = sorted(case.client_attempts, key=lambda a: a.at)[-SHOWN_ATTEMPTS:]
    if attempts:
        lines = [
            f"• {moment(a.at)} — {label('attempt', a.outcome.value)} — {person(a.by, names)}" for a in attempts
        ]
        blocks.append(section(f"*{t('steps.attempts', count=len(case.client_attempts))}*\n" + "\n".join(lines)))
    controls: list[ButtonElement] = []
    if case.state is State.contact_attempt:
        controls += [
            button(label("attempt", o.value), ids.suffixed(ids.ATTEMPT, o.value), encode(case.id, o=o.value))
            for o in AttemptOutcome
        ]
    if case.state in (State.contact_attempt, State.scheduled_callback):
        controls += _close_early(case)
    if controls:
        blocks.append(buttons(controls))
    return message(_text(case, State.contact_attempt), blocks)


# --- Étape administrative 1: fiche client -----------------------------------------------------------------


def _field_value(case: Case, field: str) -> str:
    options = field_choices(field)

    def shown(value: str | None) -> str:
        value = label_of(options, value) if options else value
        return escape(value) if value else f"_{t('steps.empty')}_"

    check = case.profile.get(field)
    if check is not None and check.answer is ProfileAnswer.modified:
        return f"~{shown(check.old_value)}~ → *{shown(check.new_value)}*"
    return shown(case.client.value(field))


def profile_step(case: Case) -> Message:
    """Each field of the client file with its value and Confirmé / Modifié / Non communiqué, then
    "Valider la fiche"."""
    editable = case.state is State.admin_profile_update
    fields = case.client.profile_fields()
    blocks: list[Block] = [_title(case, State.admin_profile_update), script(profile_script(case))]
    choices = _choices("profile", ProfileAnswer)
    for row, field in enumerate(fields):
        check = case.profile.get(field)
        # An empty field cannot be confirmed (the engine refuses it): the button is not offered.
        offered = choices if confirmable(case, field) else [c for c in choices if c[0] != ProfileAnswer.confirmed]
        blocks += answer_row(
            case_id=case.id,
            row=row,
            action_id=ids.PROFILE_ANSWER,
            args={"f": field},
            title=label("field", field),
            detail=_field_value(case, field),
            choices=offered,
            chosen=check.answer.value if check else None,
            editable=editable,
        )
    blocks.append(_progress(sum(f in case.profile for f in fields), len(fields)))
    if editable:
        validate = button(t("steps.validate_profile"), ids.PROFILE_VALIDATE, encode(case.id), style="primary")
        blocks.append(buttons([validate, *_close_early(case)]))
    return message(_text(case, State.admin_profile_update), blocks)


# --- Étape administrative 2: contrats ---------------------------------------------------------------------


def _contract_detail(case: Case, contract: Contract) -> str:
    parts = [escape(describe_contract(contract, case.client.postcode))]
    if not contract.signed:
        parts.append(t("steps.unsigned"))
    check = case.contract_checks.get(contract.number)
    if check is not None and check.answer is ContractAnswer.missing_piece:
        piece = escape(piece_label(check.piece)) if check.piece else ""
        recovery = escape(label_of(recovery_modes(), check.recovery) or "")
        parts.append(t("steps.piece", piece=piece, recovery=recovery))
    elif contract.missing_pieces:
        known = ", ".join(escape(piece_label(p)) for p in contract.missing_pieces)
        parts.append(t("steps.known_missing", pieces=known))
    return "\n".join(parts)


def contracts_step(case: Case) -> Message:
    """Each contract reworded in plain words with Signé / Pièce manquante / À relancer, then
    "Valider les contrats"."""
    editable = case.state is State.admin_contract_validation
    blocks: list[Block] = [_title(case, State.admin_contract_validation), script(contract_script(case))]
    choices = _choices("contract", ContractAnswer)
    for row, contract in enumerate(case.contracts):
        check = case.contract_checks.get(contract.number)
        blocks += answer_row(
            case_id=case.id,
            row=row,
            action_id=ids.CONTRACT_ANSWER,
            args={"n": contract.number},
            title=t("steps.contract", number=escape(contract.number)),
            detail=_contract_detail(case, contract),
            choices=choices,
            chosen=check.answer.value if check else None,
            editable=editable,
        )
    blocks.append(_progress(sum(c.number in case.contract_checks for c in case.contracts), len(case.contracts)))
    if editable:
        validate = button(t("steps.validate_contracts"), ids.CONTRACTS_VALIDATE, encode(case.id), style="primary")
        blocks.append(buttons([validate, *_close_early(case)]))
    return message(_text(case, State.admin_contract_validation), blocks)


# --- Rebond commercial ------------------------------------------------------------------------------------


def _protection_detail(case: Case, code: str) -> str | None:
    check = case.protections.get(code)
    if check is None:
        return None
    if check.answer is ProtectionAnswer.elsewhere:
        insurer = escape(check.insurer) if check.insurer else t("steps.insurer_unknown")
        renewal = day(check.renewal_on) if check.renewal_on else t("steps.renewal_unknown")
        return t("steps.elsewhere", insurer=insurer, renewal=renewal)
    if check.priority:
        return t("steps.priority", reason=escape(check.reason or ""))
    return t("steps.gap")


def _priority_button(case: Case, row: int, code: str) -> list[ButtonElement]:
    check = case.protections.get(code)
    if check is None or check.answer is ProtectionAnswer.elsewhere:
        return []
    on = not check.priority
    text = label("buttons", "priority_on" if on else "priority_off")
    return [button(text, ids.suffixed(ids.PRIORITY_TOGGLE, row), encode(case.id, p=code, on=on))]


def _protection_rows(case: Case, editable: bool) -> list[Block]:
    names = dict(protections(case.client))
    structuring = structuring_protections(case)
    # Protections answered beyond the structuring ones (a contract elsewhere named at the pivot question).
    codes = structuring + [code for code in case.protections if code not in structuring]
    choices = _choices("protection", ProtectionAnswer)
    blocks: list[Block] = []
    for row, code in enumerate(codes):
        check = case.protections.get(code)
        blocks += answer_row(
            case_id=case.id,
            row=row,
            action_id=ids.PROTECTION_ANSWER,
            args={"p": code},
            title=escape(names.get(code, code)),
            detail=_protection_detail(case, code),
            choices=choices,
            chosen=check.answer.value if check else None,
            editable=editable,
            extra=_priority_button(case, row, code),
        )
    priorities = sum(check.priority for check in case.protections.values())
    blocks.append(_progress(sum(code in case.protections for code in structuring), len(structuring)))
    blocks.append(context(t("steps.priorities", count=priorities)))
    return blocks


def _agreement_detail(case: Case) -> str:
    agreement = case.agreement
    if agreement is None:
        return t("steps.agreement_ask")
    if agreement.withdrawn_at is not None:
        return t("steps.agreement_withdrawn_at", given=moment(agreement.at), when=moment(agreement.withdrawn_at))
    return t("steps.agreement_at", when=moment(agreement.at))


def rebound_step(case: Case, today: date) -> Message:
    """The consent question first (not put to a client who opposes commercial calls or declined a rebound
    lately); once the client agrees, the pivot question and the structuring protections (Contrat ailleurs /
    Pas couvert / À approfondir, priorities), the needs, then "Terminer le rebond". Only what the engine
    would accept is offered: nothing commercial without the agreement, after a withdrawal or under an
    opposition; the client may withdraw his agreement or oppose commercial calls at any time."""
    editable = case.state is State.commercial_rebound
    agreement = case.agreement
    refusal = commercial_refusal(case, today)
    blocks: list[Block] = [_title(case, State.commercial_rebound)]
    if agreement is not None or client_commercial_bar(case.client, today) is None:
        blocks.append(script([agreement_wording()]))
        blocks += answer_row(
            case_id=case.id,
            row=0,
            action_id=ids.AGREEMENT,
            args={},
            title=t("steps.agreement"),
            detail=_agreement_detail(case),
            choices=[("yes", label("buttons", "agreement_yes")), ("no", label("buttons", "agreement_no"))],
            chosen=("yes" if agreement.agreed else "no") if agreement else None,
            editable=editable and agreement is None,  # answered once: a given agreement is withdrawn, below
        )
    if agreement is not None and agreement.agreed:
        blocks.append(script(rebound_script(case)))
        blocks += _protection_rows(case, editable and refusal is None)
    if refusal is not None and refusal.code != "agreement_missing":
        blocks.append(context(t("steps.commercial_closed", reason=wording.refusal(refusal))))
    if case.needs:
        lines = [f"• {escape(need.text)}" for need in case.needs[-SHOWN_NEEDS:]]
        blocks.append(section(f"*{t('steps.needs')}*\n" + "\n".join(lines)))
    if editable:
        controls: list[ButtonElement] = []
        if refusal is None:
            controls += [button(t("steps.elsewhere_other"), ids.PROTECTION_ELSEWHERE_OTHER, encode(case.id)),
                         button(t("steps.need_add"), ids.NEED_ADD, encode(case.id)),
                         button(label("buttons", "agreement_withdraw"), ids.AGREEMENT_WITHDRAW, encode(case.id),
                                style="danger")]
        if case.client.opposition_at is None:
            controls.append(button(label("buttons", "opposition_set"), ids.OPPOSITION, encode(case.id, on=True),
                                   style="danger"))
        finish = button(label("buttons", "finish_rebound"), ids.REBOUND_FINISH, encode(case.id), style="primary")
        blocks.append(buttons([*controls, finish]))
    return message(_text(case, State.commercial_rebound), blocks)


# --- Plan d'actions et clôture ----------------------------------------------------------------------------


def _action_control(case: Case, action: Action) -> ButtonElement | None:
    if action.id is None or action.status is not ActionStatus.todo:
        return None
    value = encode(case.id, i=action.id)
    if case.state is State.action_plan:
        return button(t("steps.action_remove"), ids.suffixed(ids.ACTION_REMOVE, action.id), value)
    if case.state is State.closed:
        return button(label("buttons", "action_done"), ids.suffixed(ids.ACTION_DONE, action.id), value)
    return None


def action_plan_step(case: Case, names: Mapping[str, str], today: date) -> Message:
    """The dated action plan: the three guide buttons, each action with its due date and owner (removable
    until closing, markable done after) and "Clôturer le dossier". Without the client's agreement only the
    administrative follow-ups are offered (no devis: it is always commercial)."""
    blocks: list[Block] = [_title(case, State.action_plan), script(action_plan_script(case))]
    refusal = commercial_refusal(case, today)
    if refusal is not None:
        blocks.append(context(t("steps.plan_administrative_only", reason=wording.refusal(refusal))))
    if case.state is State.action_plan:
        kinds = [k for k in ActionKind if refusal is None or k is not ActionKind.devis]
        add = [
            button(label("action", k.value), ids.suffixed(ids.ACTION_ADD, k.value), encode(case.id, k=k.value))
            for k in kinds
        ]
        blocks.append(buttons(add))
    actions = sorted(active_actions(case), key=lambda a: a.due_on)
    if not actions:
        blocks.append(context(t("steps.no_action")))
    for action in actions[:SHOWN_ACTIONS]:
        blocks.append(section(action_line(action, names), accessory=_action_control(case, action)))
    if len(actions) > SHOWN_ACTIONS:
        blocks.append(context(t("more", count=len(actions) - SHOWN_ACTIONS)))
    if case.state is State.action_plan:
        close = button(label("buttons", "close"), ids.CLOSE, encode(case.id), style="primary")
        blocks.append(buttons([close, *_close_early(case)]))
    return message(_text(case, State.action_plan), blocks)


def step_message(case: Case, names: Mapping[str, str], today: date, *, state: State | None = None) -> Message:
    """The message of a state's step (the case's current state by default); while the case is at that step,
    it ends with the call's checklist count."""
    state = state or case.state
    shown = _step_message(case, names, today, state)
    if state is case.state and state is not State.closed and len(shown.blocks) < MAX_BLOCKS:
        done, total = checklist_progress(case)
        shown.blocks.append(context(t("steps.checklist", done=done, total=total)).to_dict())
    return shown


def _step_message(case: Case, names: Mapping[str, str], today: date, state: State) -> Message:
    if state is State.preparation:
        return preparation_step(case, names, today)
    if state in (State.contact_attempt, State.scheduled_callback):
        return contact_step(case, names, today)
    if state is State.admin_profile_update:
        return profile_step(case)
    if state is State.admin_contract_validation:
        return contracts_step(case)
    if state is State.commercial_rebound:
        return rebound_step(case, today)
    if state is State.action_plan:
        return action_plan_step(case, names, today)
    return closing_notice(case, names)
