"""The identifiers carried by the bot's Block Kit controls, shared by the view builders and the listeners.

Naming scheme, for listener registration:

- Every action_id starts with ``m3.``. A control shown once per message has exactly its constant as
  action_id (``START_CALL``). A control repeated on one message (a row of answer buttons, one remove button
  per action) gets its constant plus ``:`` and a suffix, because Slack wants action_ids unique within a
  block and the bot keeps them unique within the message (``m3.profile_answer:3:confirmed``). Register with
  ``app.action(pattern(PROFILE_ANSWER))``: it matches the bare constant and every suffixed form. The
  suffix carries no meaning; what a click means is in the button's value.
- A button's value is ``bot.payloads.encode(case_id, **args)``; the args of each control are listed below
  with its constant. Answers that need more data (``a="modified"``, ``a="missing_piece"``,
  ``a="elsewhere"``, ``o="callback"``, ``on=True``) open the modal named beside them instead of applying
  a command.
- A modal's callback_id is one of the ``MODAL_*`` constants and its private_metadata
  ``encode(case_id, **args)``; ``bot.forms`` reads the submitted values.
- Every modal input has the same string as block_id and action_id (the ``INPUT_*`` constants), so its
  value is ``view["state"]["values"][INPUT_X][INPUT_X]`` and a ``response_action: errors`` is keyed by it.
"""

from __future__ import annotations

import re

# --- Buttons: action_id prefix -> value args ----------------------------------------------------------------
START_CALL = "m3.start_call"  # encode(c); the clicker is the caller (StartCall)
ATTEMPT = "m3.attempt"  # encode(c, o=AttemptOutcome); o="callback" opens MODAL_CALLBACK
CLOSE_EARLY = "m3.close_early"  # encode(c); opens MODAL_CLOSE_EARLY
PROFILE_ANSWER = "m3.profile_answer"  # encode(c, f=field, a=ProfileAnswer); a="modified" opens MODAL_PROFILE_FIELD
PROFILE_VALIDATE = "m3.profile_validate"  # encode(c)
CONTRACT_ANSWER = "m3.contract_answer"  # encode(c, n=contract number, a=ContractAnswer); missing_piece: modal
CONTRACTS_VALIDATE = "m3.contracts_validate"  # encode(c)
AGREEMENT = "m3.agreement"  # encode(c, a="yes"|"no"); the wording is flows.script.agreement_wording()
AGREEMENT_WITHDRAW = "m3.agreement_withdraw"  # encode(c); the client withdraws his agreement (WithdrawAgreement)
OPPOSITION = "m3.opposition"  # encode(c, on=bool); set the client's opposition, or lift it (leads only)
PROTECTION_ANSWER = "m3.protection_answer"  # encode(c, p=protection, a=ProtectionAnswer); elsewhere: modal
PROTECTION_ELSEWHERE_OTHER = "m3.protection_other"  # encode(c); opens MODAL_ELSEWHERE with no protection chosen
PRIORITY_TOGGLE = "m3.priority"  # encode(c, p=protection, on=bool); on=True opens MODAL_PRIORITY
NEED_ADD = "m3.need_add"  # encode(c); opens MODAL_NEED
REBOUND_FINISH = "m3.rebound_finish"  # encode(c)
ACTION_ADD = "m3.action_add"  # encode(c, k=ActionKind); opens MODAL_ACTION
ACTION_REMOVE = "m3.action_remove"  # encode(c, i=action id)
ACTION_DONE = "m3.action_done"  # encode(c, i=action id)
CLOSE = "m3.close"  # encode(c)
REASSIGN = "m3.reassign"  # encode(c); opens MODAL_REASSIGN (leads only)
CALLBACK_RESUME = "m3.reminder.callback_resume"  # encode(c); from a callback reminder (CallbackDue)
OPEN_THREAD = "m3.open_thread"  # link button (url = the thread), value encode(c); only needs an ack
OUT_OF_TIME_OPEN = "m3.out_of_time_open"  # encode(c); a lead's Home: opens a case set aside as out of time
OUT_OF_TIME_CLOSE = "m3.out_of_time_close"  # encode(c); a lead's Home: opens MODAL_CLOSE_OUT_OF_TIME
HANDOVER = "m3.handover"  # encode(None); a lead's Home: opens MODAL_HANDOVER
AGENCY_SETTINGS = "m3.agency_settings"  # encode(None); a workspace admin's Home: opens MODAL_AGENCY_SETTINGS
REOPEN = "m3.reopen"  # encode(c); a closed case's card: opens MODAL_REOPEN (leads only)
RGPD = "m3.rgpd"  # encode(None); a lead's Home: opens MODAL_RGPD (leads only)

# --- Modals: callback_id -> private_metadata args ------------------------------------------------------------
MODAL_PROFILE_FIELD = "m3.modal.profile_field"  # encode(c, f=field)
MODAL_MISSING_PIECE = "m3.modal.missing_piece"  # encode(c, n=contract number)
MODAL_ELSEWHERE = "m3.modal.elsewhere"  # encode(c, p=protection or None)
MODAL_ACTION = "m3.modal.action"  # encode(c, k=ActionKind)
MODAL_CALLBACK = "m3.modal.callback"  # encode(c)
MODAL_CLOSE_EARLY = "m3.modal.close_early"  # encode(c)
MODAL_NEED = "m3.modal.need"  # encode(c)
MODAL_PRIORITY = "m3.modal.priority"  # encode(c, p=protection)
MODAL_OPEN_CASE = "m3.modal.open_case"  # encode(None)
MODAL_REASSIGN = "m3.modal.reassign"  # encode(c)
MODAL_CLOSE_OUT_OF_TIME = "m3.modal.close_out_of_time"  # encode(c)
MODAL_HANDOVER = "m3.modal.handover"  # encode(None)
MODAL_REOPEN = "m3.modal.reopen"  # encode(c)
MODAL_AGENCY_SETTINGS = "m3.modal.agency_settings"  # encode(None)
MODAL_RGPD = "m3.modal.rgpd"  # encode(None)

# --- Modal inputs: block_id == action_id -------------------------------------------------------------------
INPUT_VALUE = "value"
INPUT_PIECE = "piece"
INPUT_PIECE_OTHER = "piece_other"
INPUT_RECOVERY = "recovery"
INPUT_INSURER = "insurer"
INPUT_PROTECTION = "protection"
INPUT_RENEWAL = "renewal"
INPUT_KIND = "kind"
INPUT_DUE = "due"
INPUT_OWNER = "owner"
INPUT_PURPOSE = "purpose"
INPUT_REASON = "reason"
INPUT_CALLBACK_AT = "callback_at"
INPUT_CLIENT_REQUESTED = "client_requested"
INPUT_REQUEST_WORDING = "request_wording"
INPUT_POSTCODE = "postcode"
INPUT_AIM = "aim"
INPUT_CLOSE_REASON = "close_reason"
INPUT_NOTE = "note"
INPUT_NEED = "need"
INPUT_CASE = "case"
INPUT_AGENT = "agent"
INPUT_ABSENT = "absent"
INPUT_COLLEAGUES = "colleagues"
INPUT_CHANNEL = "channel"
INPUT_LEADS = "leads"
INPUT_OPENS = "opens"
INPUT_CLOSES = "closes"
INPUT_CALLER = "caller"
INPUT_RETENTION = "retention"
INPUT_CLIENT_NUMBER = "client_number"
INPUT_RGPD_RIGHT = "rgpd_right"
INPUT_RGPD_CONFIRM = "rgpd_confirm"


def suffixed(action_id: str, *parts: object) -> str:
    """The action_id of one occurrence of a repeated control (``m3.profile_answer:3:confirmed``)."""
    return ":".join([action_id, *(str(part) for part in parts)])


def pattern(action_id: str) -> re.Pattern[str]:
    """The regex a listener registers to receive a control in its bare and suffixed forms."""
    return re.compile(rf"^{re.escape(action_id)}(:.*)?$")
