"""Administrative step 1 (guide 4.3): each field of the client file confirmed, changed or not given; TNS."""

from __future__ import annotations

from flows import commands as cmd
from flows import texts, workflow
from flows.case import Case, ClientType, ProfileAnswer, ProfileCheck
from flows.steps.common import Context, Fact, Refused
from flows.validation import is_tns, normalize_field, normalize_naf, normalize_postcode, postcode_from_address


def answer_profile(case: Case, command: cmd.AnswerProfile, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    if command.field not in case.client.profile_fields():
        raise Refused("unknown_field")
    new_value, naf_version = _new_profile_value(case, command, ctx)
    postcode = _new_postcode(command, new_value)
    previous = case.profile.get(command.field)
    if previous is not None and previous.answer is command.answer and (
        command.answer is not ProfileAnswer.modified
        or (previous.new_value == new_value and postcode in (None, case.client.postcode))
    ):
        return []  # the same answer again (a double click): nothing happens twice
    if command.answer is ProfileAnswer.confirmed and not confirmable(case, command.field):
        raise Refused("confirm_empty", field=texts.t(f"labels.field.{command.field}"))
    facts: list[Fact] = []
    if previous is not None:
        _undo_profile(case, previous)
        facts.append(Fact("profile_corrected", {"field": command.field, "previous_answer": previous.answer.value,
                                                "previous_value": previous.new_value}))
    old_value = case.client.value(command.field)
    if command.answer is not ProfileAnswer.modified:
        new_value = old_value
    case.profile[command.field] = ProfileCheck(field=command.field, answer=command.answer, old_value=old_value,
                                               new_value=new_value, at=ctx.now, by=ctx.actor)
    setattr(case.client, command.field, new_value)
    if naf_version:
        case.client.naf_version = naf_version
    facts.append(Fact("profile_answered", {"field": command.field, "answer": command.answer.value,
                                           "old_value": old_value, "new_value": new_value}))
    if postcode is not None and postcode != case.client.postcode:
        # The postcode gives the client's time zone and public holidays: it follows the address.
        case.profile["postcode"] = ProfileCheck(field="postcode", answer=ProfileAnswer.modified,
                                                old_value=case.client.postcode, new_value=postcode,
                                                at=ctx.now, by=ctx.actor)
        facts.append(Fact("postcode_changed", {"old_value": case.client.postcode, "new_value": postcode}))
        case.client.postcode = postcode
    if command.field == "professional_status" and command.answer is ProfileAnswer.modified and is_tns(new_value):
        facts += _turn_into_tns(case, ctx)
    return facts


def confirmable(case: Case, field: str) -> bool:
    """Whether `Confirmé` may answer a field: not when the file holds nothing for it (before this call's
    answers); an empty field is given (Modifié) or recorded as not communicated."""
    previous = case.profile.get(field)
    on_file = previous.old_value if previous is not None else case.client.value(field)
    return bool((on_file or "").strip())


def _new_postcode(command: cmd.AnswerProfile, new_address: str | None) -> str | None:
    """The postcode that comes with a changed address (given, else read from it), or None for any other
    answer; an address without one is refused."""
    if command.field != "address" or command.answer is not ProfileAnswer.modified:
        return None
    given = command.postcode or postcode_from_address(new_address)
    if not given or not given.strip():
        raise Refused("postcode_missing")
    return normalize_postcode(given)  # an invalid one raises `Invalid`, a refusal worded from `validation`


def _new_profile_value(case: Case, command: cmd.AnswerProfile, ctx: Context) -> tuple[str | None, str | None]:
    """The normalised new value of a `Modifié` answer (and the NAF nomenclature version), or a refusal."""
    if command.answer is not ProfileAnswer.modified:
        return None, None
    new_value = command.new_value
    if not new_value or not new_value.strip():
        raise Refused("new_value_missing", field=texts.t(f"labels.field.{command.field}"))
    if command.field == "naf":
        return normalize_naf(new_value, ctx.today)
    return normalize_field(command.field, new_value, postcode=case.client.postcode, on=ctx.today), None


def _undo_profile(case: Case, previous: ProfileCheck) -> None:
    """A correction starts again from the file as it was before the mistaken answer."""
    setattr(case.client, previous.field, previous.old_value)
    if previous.field == "address" and (check := case.profile.pop("postcode", None)) is not None:
        case.client.postcode = check.old_value
    if previous.field == "professional_status":
        for derived in ("client_type", "account_manager"):
            check = case.profile.pop(derived, None)
            if check is not None:
                _set_client(case, derived, check.old_value)


def _set_client(case: Case, name: str, value: str | None) -> None:
    setattr(case.client, name, ClientType(value) if name == "client_type" and value is not None else value)


def _turn_into_tns(case: Case, ctx: Context) -> list[Fact]:
    """Guide 4.3: a TNS detected, even with a personal contract only, makes the file "client pro/TNS" and gives
    it the professional account manager; the agent on the call keeps the case."""
    if case.client.client_type is ClientType.tns:
        return []
    facts = [Fact("tns_detected", {"previous_type": case.client.client_type.value})]
    changes: dict[str, tuple[str | None, str]] = {"client_type": (case.client.client_type.value, ClientType.tns.value)}
    if ctx.rules.pro_account_manager:
        changes["account_manager"] = (case.client.account_manager, ctx.rules.pro_account_manager)
    for name, (old, new) in changes.items():
        case.profile[name] = ProfileCheck(field=name, answer=ProfileAnswer.modified, old_value=old, new_value=new,
                                          at=ctx.now, by=ctx.actor)
        _set_client(case, name, new)
        facts.append(Fact("profile_answered", {"field": name, "answer": "modified", "old_value": old, "new_value": new}))
    return facts


def validate_profile(case: Case, ctx: Context) -> list[Fact]:
    facts = workflow.allow(case, ctx).apply()
    case.admin_profile_done_at = ctx.now
    changed = sorted(f for f, c in case.profile.items() if c.answer is ProfileAnswer.modified)
    return [Fact("profile_validated", {"changed": changed}), *facts]
