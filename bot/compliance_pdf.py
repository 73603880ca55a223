"""The compliance record of one case as a PDF (`m3bot show CASE --pdf PATH`), for a reviewer (ACPR, CNIL,
the insurer): the compliance verdict computed from the audit trail alone (`flows.verdict`), the
administrative checks, the client's agreement and its wording, the needs and the reasons
for each proposal, then the proposal and the action plan, each part in the order it happened, with who
and when; then the whole audit trail.

The record is dated and carries the SHA-256 of the case's audit entries exactly as `m3bot show CASE
--json` prints them (`audit_digest`), so a reviewer can check it matches the trail, and the verification
of the case's hash chain (`storage.audit_verify`) with its head hash and its length, which the leads'
daily digest also lists: an earlier tampering shows there. French text comes from
`wording/fr/rgpd.yml` and `labels.yml`; fpdf2's core fonts in Windows-1252 cover French typography.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from sqlmodel import Session

import wording
from bot import private_files
from bot.rendering import agent_names
from flows.case import Case, ProfileAnswer
from flows.dates import numeric_day
from flows.script import display_name, product_name, protections_for
from flows.verdict import describe
from storage.audit_verify import chain_state, describe_problem, verify
from storage.compliance import case_verdict
from storage.queries import case_trace
from storage.repository import load_case
from storage.tables import utcnow

ENCODING = "windows-1252"
Line = tuple[datetime, str, str]  # when, who, what


def t(key: str, **values: object) -> str:
    return wording.t(f"rgpd.pdf.{key}", **values)


def label(group: str, code: str) -> str:
    return wording.t(f"labels.{group}.{code}")


def audit_digest(timeline: list[dict[str, Any]]) -> str:
    """SHA-256 of the audit entries as `m3bot show CASE --json` gives them (its "timeline"), canonical JSON."""
    canonical = json.dumps(timeline, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _Record(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.cell(0, 8, t("page", page=self.page_no(), pages="{nb}"), align="C")


class _Writer:
    def __init__(self, zone: ZoneInfo, names: dict[str, str]) -> None:
        self.zone, self.names = zone, names
        self.pdf = _Record(format="A4")
        self.pdf.core_fonts_encoding = ENCODING
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()

    def text(self, value: str, *, size: int = 10, bold: bool = False, gap: float = 0) -> None:
        # A character Windows-1252 lacks (an emoji typed in a free text) becomes "?" rather than failing.
        value = value.encode(ENCODING, "replace").decode(ENCODING)
        self.pdf.set_font("helvetica", "B" if bold else "", size)
        self.pdf.multi_cell(0, size * 0.5, value, new_x="LMARGIN", new_y="NEXT")
        if gap:
            self.pdf.ln(gap)

    def heading(self, value: str) -> None:
        self.pdf.ln(3)
        self.text(value, size=12, bold=True, gap=1)

    def lines(self, lines: Iterable[Line]) -> None:
        shown = sorted(lines, key=lambda line: line[0])
        if not shown:
            self.text(t("none"))
        for at, who, what in shown:
            self.text(t("line", at=self.moment(at), actor=self.person(who), what=what))

    def moment(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%d/%m/%Y %H:%M:%S")

    def person(self, email: str | None) -> str:
        name = display_name(email, self.names)
        return f"{name} <{email}>" if email and name != email else (email or "—")


def _admin(case: Case, attempts: list[dict[str, Any]]) -> list[Line]:
    lines = [(datetime.fromisoformat(a["at"]), a["by"], t("attempt", outcome=label("attempt", a["outcome"])))
             for a in attempts]
    for check in case.profile.values():
        change = ""
        if check.answer is ProfileAnswer.modified:
            change = t("profile_change", old=check.old_value or "—", new=check.new_value or "—")
        lines.append((check.at, check.by, t("profile", field=label("field", check.field),
                                            answer=label("profile", check.answer.value), change=change)))
    for check in case.contract_checks.values():
        detail = "".join(f" — {part}" for part in (check.piece, check.recovery) if part)
        lines.append((check.at, check.by, t("contract_check", contract=check.contract_number,
                                            answer=label("contract", check.answer.value), detail=detail)))
    return lines


def _advice(case: Case) -> list[Line]:
    names = dict(protections_for(case.client.client_type))
    lines: list[Line] = [(need.at, need.by, t("need", text=need.text)) for need in case.needs]
    for check in case.protections.values():
        detail = t("insurer", insurer=check.insurer) if check.insurer else ""
        if check.renewal_on:
            detail += t("renewal", date=numeric_day(check.renewal_on, missing="—"))
        if check.priority:
            detail += t("priority", reason=check.reason or "—")
        lines.append((check.at, check.by, t("protection", protection=names.get(check.protection, check.protection),
                                            answer=label("protection", check.answer.value), detail=detail)))
    return lines


def _plan(case: Case, writer: _Writer, timeline: list[dict[str, Any]]) -> list[Line]:
    lines: list[Line] = []
    for action in case.actions:
        purpose = f" — {wording.t(f'labels.plan_purpose.{action.purpose}')}" if action.purpose else ""
        lines.append((action.created_at, action.created_by, t(
            "action", kind=label("action", action.kind.value), due_on=numeric_day(action.due_on, missing="—"),
            owner=writer.person(action.owner), purpose=purpose,
            reason=t("action_reason", reason=action.reason) if action.reason else "",
            status=t("action_status", status=label("action_status", action.status.value)),
        )))
    closing = [entry for entry in timeline if entry["event"] == "case_closed"]
    if case.closed_at and case.close_reason and closing:
        note = f" — {case.close_note}" if case.close_note else ""
        lines.append((case.closed_at, closing[-1]["actor"], t("closed", date=numeric_day(case.closed_at.date(), missing="—"),
                                                             reason=label("close_reason", case.close_reason.value),
                                                             note=note)))
    return lines


def _chain_line(session: Session, case_id: int) -> str:
    """The verification of the case's hash chain, with its head and its length, as of now."""
    check, kept = verify(session, case_id), chain_state(session, case_id)
    if check.ok:
        return wording.t("audit.pdf.chain_ok", count=kept.count, head=kept.head or "—")
    problems = "; ".join(describe_problem(problem) for problem in check.problems)
    return wording.t("audit.pdf.chain_broken", problems=problems, count=kept.count, head=kept.head or "—")


def compliance_record(session: Session, case_id: int, *, actor: str, now: datetime, timezone: str) -> bytes:
    """The PDF of case `case_id`, dated `now` and issued by `actor`. Raises `storage.repository.CaseNotFound`."""
    trace = case_trace(session, case_id)
    case = load_case(session, case_id, lock=False)
    writer = _Writer(ZoneInfo(timezone), agent_names(session))
    client = case.client
    writer.pdf.set_title(t("title", id=case_id))
    writer.pdf.set_creation_date(now)

    writer.text(t("title", id=case_id), size=15, bold=True, gap=2)
    writer.text(t("generated", date=writer.moment(now), actor=actor, entries=len(trace["timeline"])), size=9)
    writer.text(t("hash", digest=audit_digest(trace["timeline"])), size=8)
    writer.text(t("hash_help", id=case_id), size=8)
    writer.text(_chain_line(session, case_id), size=8)
    writer.text(wording.t("audit.pdf.chain_help", id=case_id), size=8, gap=3)
    name = " ".join(p for p in (client.civility, client.first_name, client.last_name) if p)
    writer.text(t("client", number=client.number, client_type=label("client_type", client.client_type.value),
                  name=name), bold=True)
    writer.text(t("case", state=label("state", case.state.value), m3_date=numeric_day(case.m3_date, missing="—"),
                  seller=writer.person(case.seller), agent=writer.person(case.agent)))
    writer.text(t("contracts"), bold=True)
    for contract in case.contracts:
        writer.text(t("contract", number=contract.number, product=product_name(contract.product),
                      formula=contract.formula, subscribed_on=numeric_day(contract.subscribed_on, missing="—"),
                      origin=label("origin", contract.origin.value)))

    writer.heading(wording.t("verdict.title"))
    for line in describe(case_verdict(session, case_id), writer.moment):
        writer.text(line)
    writer.heading(t("sections.admin"))
    writer.lines(_admin(case, trace["attempts"]))
    writer.heading(t("sections.agreement"))
    if case.agreement is None:
        writer.text(t("none"))
    else:
        agreed = t("agreement_yes") if case.agreement.agreed else t("agreement_no")
        writer.lines([(case.agreement.at, case.agreement.by, agreed)])
        writer.text(t("wording", wording=case.agreement.wording))
        if case.agreement.withdrawn_at is not None:
            writer.text(t("agreement_withdrawn", when=writer.moment(case.agreement.withdrawn_at)))
    if case.client.opposition_at is not None:
        writer.text(t("opposition", since=writer.moment(case.client.opposition_at)))
    writer.heading(t("sections.advice"))
    writer.lines(_advice(case))
    writer.heading(t("sections.plan"))
    writer.lines(_plan(case, writer, trace["timeline"]))

    writer.heading(t("sections.trail"))
    for entry in trace["timeline"]:
        data = json.dumps(entry["data"], ensure_ascii=False, sort_keys=True) if entry["data"] else ""
        writer.text(t("line", at=writer.moment(datetime.fromisoformat(entry["at"])), actor=entry["actor"],
                      what=f"{entry['event']} {data}".strip()), size=8)
    return bytes(writer.pdf.output())


def write_record(session: Session, case_id: int, path: Path, *, timezone: str, actor: str | None = None) -> None:
    """Write the compliance record of `case_id` to `path`, issued now by `actor` (the OS user by default)."""
    record = compliance_record(session, case_id, actor=actor or getpass.getuser(), now=utcnow(), timezone=timezone)
    private_files.write_bytes(path, record)
