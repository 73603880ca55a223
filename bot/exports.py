"""`m3bot export`: the cases opened in a period and their actions as CSV that French spreadsheets open as
they are (`;`, UTF-8 with BOM, dd/mm/yyyy), and one `.ics` calendar per agent of the RDV and relances
still to do on those cases, for Outlook or Google Calendar.

The files hold client names: they stay in the agency (RGPD), like the management system's own exports;
they are written for their owner only (bot.private_files). A cell that a spreadsheet would run as a formula
is written with a leading apostrophe, which Excel and LibreOffice show as text.
Column headers and values are French, from `wording/fr/dashboards.yml` and `labels.yml`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from icalendar import Calendar, Event
from sqlalchemy.engine import Engine
from sqlmodel import Session

import wording
from bot import private_files
from flows.case import ActionKind, ActionStatus, AttemptOutcome, ContractAnswer, ProfileAnswer, ProtectionAnswer
from flows.dates import numeric_day
from storage.dashboards import Period
from storage.tables import (
    Action,
    CallAttempt,
    Client,
    Contract,
    ContractCheck,
    M3Case,
    ProfileCheck,
    ProtectionCheck,
)
from storage.workspaces import session_for

_SEP = "|"  # joins a case's findings in SQL; never typed in a catalogue code
CALENDAR_KINDS = (ActionKind.rdv.value, ActionKind.relance.value)
CASE_COLUMNS = ("case", "client_number", "client", "client_type", "origin", "agent", "seller", "m3_date", "opened_on",
                "state", "attempts", "reached", "admin_done_on", "file_changed", "tns_detected", "missing_pieces",
                "elsewhere", "gaps", "rebound_done_on", "closed_on", "close_reason")
ACTION_COLUMNS = ("case", "client", "kind", "due_on", "owner", "status", "late", "purpose", "reason", "created_on",
                  "done_on")


@dataclass(frozen=True)
class ExportReport:
    cases: int
    actions: int
    events: int
    calendars: list[Path]
    files: list[Path]


def _x(key: str, **values: Any) -> str:
    return wording.t(f"dashboards.export.{key}", **values)



def _yes(value: bool) -> str:
    return _x("answer_yes") if value else _x("answer_no")


def _labels(joined: str | None, translate: dict[str, str]) -> str:
    """A case's findings joined in SQL, as French labels (codes the catalogue lacks are shown as typed)."""
    if not joined:
        return ""
    return ", ".join(sorted(translate.get(code, code) for code in joined.split(_SEP)))


def _catalogues() -> dict[str, dict[str, str]]:
    pieces = {p["code"]: p["label"] for group in wording.data("catalog.pieces").values() for p in group}
    protections = {p["code"]: p["label"] for p in wording.data("catalog.protections")}
    return {"field": wording.data("labels.field"), "piece": pieces, "protection": protections}


def _cases_query(bounds: tuple[datetime, datetime]) -> sa.Select:
    case_id = M3Case.id

    def joined(column: Any, table: Any, *where: Any) -> Any:
        return (sa.select(sa.func.aggregate_strings(column, _SEP)).where(table.case_id == case_id, *where)
                .correlate(M3Case).scalar_subquery())

    origin = (sa.select(Contract.origin).where(Contract.case_id == case_id)
              .order_by(Contract.subscribed_on, Contract.number).limit(1).correlate(M3Case).scalar_subquery())
    attempts = sa.select(sa.func.count()).where(CallAttempt.case_id == case_id).correlate(M3Case).scalar_subquery()
    reached = sa.exists().where(CallAttempt.case_id == case_id, CallAttempt.outcome == AttemptOutcome.available.value)
    tns = sa.exists().where(ProfileCheck.case_id == case_id, ProfileCheck.field == "client_type",
                            ProfileCheck.new_value == "tns")
    modified = ProfileCheck.answer == ProfileAnswer.modified.value
    return (
        sa.select(
            M3Case.id, Client.number, Client.civility, Client.first_name, Client.last_name, Client.client_type,
            origin, M3Case.agent, M3Case.seller, M3Case.m3_date, M3Case.opened_at, M3Case.state, attempts, reached,
            M3Case.admin_contracts_done_at,
            joined(ProfileCheck.field, ProfileCheck, modified,
                   ProfileCheck.field.not_in(("client_type", "account_manager"))),
            tns,
            joined(ContractCheck.piece, ContractCheck, ContractCheck.answer == ContractAnswer.missing_piece.value),
            joined(ProtectionCheck.protection, ProtectionCheck,
                   ProtectionCheck.answer == ProtectionAnswer.elsewhere.value),
            joined(ProtectionCheck.protection, ProtectionCheck,
                   ProtectionCheck.answer != ProtectionAnswer.elsewhere.value),
            M3Case.rebound_done_at, M3Case.closed_at, M3Case.close_reason,
        )
        .join(Client, Client.id == M3Case.client_id)
        .where(M3Case.opened_at >= bounds[0], M3Case.opened_at < bounds[1])
        .order_by(M3Case.opened_at, M3Case.id)
    )


def _client(civility: str, first: str, last: str) -> str:
    return " ".join(part for part in (civility, first, last) if part)


def _case_lines(session: Session, bounds: tuple[datetime, datetime], zone: ZoneInfo) -> Iterator[list[str]]:
    labels = _catalogues()
    for (case_id, number, civility, first, last, client_type, origin, agent, seller, m3_date, opened_at, state,
         attempts, reached, admin_done_at, fields, tns, pieces, elsewhere, gaps, rebound_at, closed_at,
         close_reason) in session.execute(_cases_query(bounds)):
        yield [
            str(case_id), number, _client(civility, first, last), wording.t(f"labels.client_type.{client_type}"),
            wording.t(f"labels.origin.{origin}") if origin else "", agent or "", seller or "", numeric_day(m3_date, zone),
            numeric_day(opened_at, zone), wording.t(f"labels.state.{state}"), str(attempts), _yes(reached),
            numeric_day(admin_done_at, zone), _labels(fields, labels["field"]), _yes(tns),
            _labels(pieces, labels["piece"]), _labels(elsewhere, labels["protection"]),
            _labels(gaps, labels["protection"]), numeric_day(rebound_at, zone), numeric_day(closed_at, zone),
            wording.t(f"labels.close_reason.{close_reason}") if close_reason else "",
        ]


def _actions_query(bounds: tuple[datetime, datetime]) -> sa.Select:
    return (
        sa.select(Action, Client.civility, Client.first_name, Client.last_name)
        .join(M3Case, M3Case.id == Action.case_id)
        .join(Client, Client.id == M3Case.client_id)
        .where(M3Case.opened_at >= bounds[0], M3Case.opened_at < bounds[1],
               Action.status != ActionStatus.cancelled.value)
        .order_by(Action.due_on, Action.id)
    )


def _action_line(action: Action, client: str, today: date, zone: ZoneInfo) -> list[str]:
    late = action.status == ActionStatus.todo.value and action.due_on < today
    return [
        str(action.case_id), client, wording.t(f"labels.plan_kind.{action.kind}"), numeric_day(action.due_on, zone),
        action.owner, wording.t(f"labels.action_status.{action.status}"), _yes(late),
        wording.t(f"labels.plan_purpose.{action.purpose}") if action.purpose else "", action.reason or "",
        numeric_day(action.created_at, zone), numeric_day(action.done_at, zone),
    ]


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV injection"): a client number or a note
# starting with one of these is data, never a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _write_csv(path: Path, header: list[str], lines: Iterator[list[str]], row_written: Callable[[], None]) -> int:
    # utf-8-sig writes the BOM Excel needs to read UTF-8; ";" is the list separator of French Windows.
    count = 0
    with private_files.open_private(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(header)
        for line in lines:
            writer.writerow([spreadsheet_cell(cell) for cell in line])
            count += 1
            row_written()
    return count


def _count(session: Session, query: sa.Select) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()


def _event(action: Action, client: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"m3-action-{action.id}@m3bot")
    event.add("dtstamp", stamp)
    event.add("dtstart", action.due_on)  # a date: an all-day event on the due day
    event.add("dtend", action.due_on + timedelta(days=1))
    kind = wording.t(f"labels.plan_kind.{action.kind}")
    event.add("summary", _x("event_summary", kind=kind, client=client))
    purpose = f"{wording.t(f'labels.plan_purpose.{action.purpose}')}. " if action.purpose else ""
    event.add("description", _x("event_description", case=action.case_id, purpose=purpose,
                                reason=action.reason or ""))
    return event


def _calendar_name(owner: str) -> str:
    local = re.sub(r"[^a-z0-9._-]+", "-", owner.split("@")[0].lower()).strip("-") or "agent"
    return f"agenda-m3_{local}.ics"


def export(engine: Engine, workspace: int, period: Period, out: Path, *, timezone: str, today: date,
           now: datetime | None = None, progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Write the cases CSV, the actions CSV and one calendar per action owner into `out` (created if needed);
    `progress(done, total)` follows the rows written, cases then actions."""
    private_files.private_directory(out)
    zone = ZoneInfo(timezone)
    bounds = period.bounds(timezone)
    suffix = f"{period.start.isoformat()}_{period.end.isoformat()}"
    cases_path, actions_path = out / f"dossiers-m3_{suffix}.csv", out / f"actions-m3_{suffix}.csv"
    stamp = now or datetime.now(UTC)
    calendars: dict[str, Calendar] = {}
    events = 0
    done = [0]
    with session_for(engine, workspace) as session:
        total = _count(session, _cases_query(bounds)) + _count(session, _actions_query(bounds))

        def row_written() -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        cases = _write_csv(cases_path, [_x(f"case_columns.{c}") for c in CASE_COLUMNS],
                           _case_lines(session, bounds, zone), row_written)
        action_rows = session.execute(_actions_query(bounds)).all()
    lines = []
    for action, civility, first, last in action_rows:
        client = _client(civility, first, last)
        lines.append(_action_line(action, client, today, zone))
        if action.kind in CALENDAR_KINDS and action.status == ActionStatus.todo.value:
            calendar = calendars.get(action.owner)
            if calendar is None:
                calendar = calendars[action.owner] = Calendar()
                calendar.add("prodid", "-//m3bot//M+3//FR")
                calendar.add("version", "2.0")
                calendar.add("x-wr-calname", _x("calendar_name"))
            calendar.add_component(_event(action, client, stamp))
            events += 1
    actions = _write_csv(actions_path, [_x(f"action_columns.{c}") for c in ACTION_COLUMNS], iter(lines), row_written)
    calendar_paths = []
    for owner, calendar in sorted(calendars.items()):
        path = out / _calendar_name(owner)
        private_files.write_bytes(path, calendar.to_ical())
        calendar_paths.append(path)
    return ExportReport(cases=cases, actions=actions, events=events, calendars=calendar_paths,
                        files=[cases_path, actions_path, *calendar_paths])
