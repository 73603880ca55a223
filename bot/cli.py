"""The `m3bot` command line (typer): import, case lists and traces, opening due cases, migrations.

Messages come from `wording/fr/cli.yml`. An error is one line on stderr and exit code 2, never a
traceback; `import` exits 1 when rows were rejected. Other modules add their commands to `app`.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

import wording
from bot.app import web_client
from bot.cli_audit import audit_app
from bot.cli_common import agency_settings, choose_workspace, database, fail, guarded, settings, workspace
from bot.cli_rgpd import rgpd_app
from bot.cli_workspace import workspace_app
from bot.compliance_pdf import write_record
from bot.doctor import run_checks
from bot.exports import export as export_files
from bot.imports import report_lines, run_import
from bot.notifier import SlackNotifier
from bot.progress import progress_bar
from bot.runner import run, run_scheduler
from bot.settings_record import operator
from flows.case import State
from flows.dates import numeric_day
from flows.verdict import describe
from service.access import RecordAccess, record_access
from service.opening import OpenDue, open_due
from service.unit_of_work import Backend, UnitOfWork
from storage import access_trail
from storage.audit import jsonable
from storage.compliance import case_verdict
from storage.dashboards import Period
from storage.db import backup_sqlite, migrate
from storage.queries import WAITING_FILTERS, CaseSummary, case_trace, list_cases
from storage.repository import CaseNotFound
from storage.workspaces import session_for
from wording import t

app = typer.Typer(help=t("cli.app_help"), no_args_is_help=True, pretty_exceptions_enable=False)


@app.callback()
def main(
    team: Annotated[str | None, typer.Option("--workspace", metavar="ID_EQUIPE", help=t("cli.workspace_help"))] = None,
) -> None:
    choose_workspace(team)
    try:
        wording.configure(settings().texts_dir)
    except wording.FixedText as error:
        fail(t("cli.errors.fixed_texts", folder=error.folder, sections=", ".join(error.sections)))


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def _day(value: date | str | None) -> str:
    """A date of a case summary, which `--json` keeps as ISO text."""
    return numeric_day(date.fromisoformat(value[:10]) if isinstance(value, str) else value, missing="—")


@app.command("migrate", help=t("cli.migrate.help"))
@guarded
def migrate_command() -> None:
    with database() as engine:
        migrate(engine)
    typer.echo(t("cli.migrate.done"))


@app.command("backup", help=t("cli.backup.help"))
@guarded
def backup_command(file: Annotated[Path, typer.Argument(metavar="FICHIER")]) -> None:
    if file.exists():
        fail(t("cli.backup.exists", path=file))
    with database() as engine:
        if engine.url.get_backend_name() != "sqlite":
            fail(t("cli.backup.postgresql"))
        backup_sqlite(engine, file)
    typer.echo(t("cli.backup.done", path=file))


@app.command("doctor", help=t("cli.doctor.help"))
def doctor_command() -> None:
    config = settings()
    checks = run_checks(config, web_client(config))
    for check in checks:
        typer.echo(f"[{t('cli.doctor.ok_mark') if check.ok else t('cli.doctor.ko_mark')}] {check.line}")
        if check.fix:
            typer.echo(t("cli.doctor.fix", fix=check.fix))
    failed = sum(not check.ok for check in checks)
    typer.echo(t("cli.doctor.summary_ko", count=failed) if failed else t("cli.doctor.summary_ok"))
    if failed:
        raise typer.Exit(1)


@app.command("import", help=t("cli.import.help"))
@guarded
def import_command(file: Annotated[Path, typer.Argument(help="CSV")]) -> None:
    if not file.is_file():
        fail(t("cli.errors.file_missing", path=file))
    with database() as engine, progress_bar(t("cli.import.progress")) as advance:
        agency = workspace(engine)
        config = agency_settings(engine, agency)
        report = run_import(config, engine, agency, file.read_bytes(), file.name, progress=advance)
    for line in report_lines(report, config):
        typer.echo(line)
    if report.rejected:
        raise typer.Exit(1)


@app.command("cases", help=t("cli.cases.help"))
@guarded
def cases_command(
    state: Annotated[str | None, typer.Option("--state")] = None,
    agent: Annotated[str | None, typer.Option("--agent")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    known = (*State.__members__, *WAITING_FILTERS)
    if state is not None and state not in known:
        fail(t("cli.errors.unknown_state", value=state, choices=", ".join(known)))
    today = datetime.now(ZoneInfo(settings().agency_timezone)).date()
    with database() as engine:
        agency = workspace(engine)
        with session_for(engine, agency) as session:
            found = list_cases(session, state=state, agent=agent, today=today)
        record_access(RecordAccess(access_trail.CASES_LISTED, {"state": state, "agent": agent, "count": len(found)}),
                      UnitOfWork(engine, actor=operator(), workspace=agency))
    if as_json:
        _print_json([dataclasses.asdict(c) for c in found])
        return
    if not found:
        typer.echo(t("cli.cases.none"))
        return
    typer.echo(t("cli.cases.header"))
    for case in found:
        typer.echo(
            t(
                "cli.cases.row",
                id=case.id,
                state=_listed_state(case, today),
                m3_date=_day(case.m3_date),
                client=f"{case.client_number} {case.client_name}"[:31],
                agent=case.agent or "—",
            )
        )


def _listed_state(case: CaseSummary, today: date) -> str:
    """A case not opened yet is not in its first step: it is to come, to open, or set aside."""
    if case.opened_at is not None or case.state != State.preparation.value:
        return t(f"labels.state.{case.state}")
    if case.out_of_time_at is not None:
        return t("cli.cases.waiting.out_of_time")
    if case.m3_date > today:
        return t("cli.cases.waiting.not_due", date=_day(case.m3_date))
    return t("cli.cases.waiting.to_open")


@app.command("show", help=t("cli.show.help"))
@guarded
def show_command(
    case_id: Annotated[int, typer.Argument(metavar="CASE")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    pdf: Annotated[Path | None, typer.Option("--pdf", metavar="PATH", help=t("rgpd.pdf.help"))] = None,
) -> None:
    with database() as engine:
        agency = workspace(engine)
        with session_for(engine, agency) as session:
            try:
                trace = case_trace(session, case_id)
            except CaseNotFound:
                fail(t("cli.show.not_found", id=case_id))
        # Once the reading session is closed: on SQLite its transaction would hold the write lock.
        record_access(RecordAccess(access_trail.CASE_SHOWN, {"pdf": pdf is not None}, case_id),
                      UnitOfWork(engine, actor=operator(), workspace=agency))
        with session_for(engine, agency) as session:
            if pdf is not None:
                write_record(session, case_id, pdf, timezone=settings().agency_timezone)
                typer.echo(t("rgpd.pdf.written", id=case_id, path=pdf))
                return
            found = case_verdict(session, case_id)
    if as_json:
        _print_json(trace | {"verdict": {"compliant": found.compliant, **dataclasses.asdict(found)}})
        return
    case, client = trace["case"], trace["case"]["client"]
    state = t(f"labels.state.{case['state']}")
    typer.echo(t("cli.show.case", id=case["id"], state=state, m3_date=_day(case["m3_date"])))
    name = " ".join(p for p in (client["civility"], client["first_name"], client["last_name"]) if p)
    typer.echo(t("cli.show.client", number=client["number"], client_type=client["client_type"], name=name))
    typer.echo(t("cli.show.agent", seller=case["seller"] or "—", agent=case["agent"] or "—"))
    for contract in case["contracts"]:
        typer.echo(
            t(
                "cli.show.contract",
                number=contract["number"],
                product=contract["product"],
                formula=contract["formula"],
                subscribed_on=_day(contract["subscribed_on"]),
                signed=t("cli.show.signed_yes") if contract["signed"] else t("cli.show.signed_no"),
            )
        )
    zone = ZoneInfo(settings().agency_timezone)
    typer.echo(t("verdict.title"))
    for line in describe(found, lambda at: at.astimezone(zone).strftime("%d/%m/%Y %H:%M")):
        typer.echo(line)
    typer.echo(t("cli.show.timeline"))
    for entry in trace["timeline"]:
        at = datetime.fromisoformat(entry["at"]).astimezone(zone).strftime("%d/%m/%Y %H:%M:%S")
        data = json.dumps(entry["data"], ensure_ascii=False) if entry["data"] else ""
        typer.echo(t("cli.show.entry", at=at, actor=entry["actor"], event=entry["event"], data=data))


def _parse_day(value: str | None, timezone: str) -> date:
    if value is None:
        return datetime.now(ZoneInfo(timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(t("cli.open_due.bad_date", value=value))


@app.command("open-due", help=t("cli.open_due.help"))
@guarded
def open_due_command(today: Annotated[str | None, typer.Option("--today", metavar="AAAA-MM-JJ")] = None) -> None:
    day = _parse_day(today, settings().agency_timezone)
    with database() as engine:
        agency = workspace(engine)
        config = agency_settings(engine, agency)
        # Each opened case's card is queued in the same transaction; the bot delivers it (now or when it starts).
        notifier = SlackNotifier(config) if config.m3_channel else None
        uow = UnitOfWork(Backend(engine, notifier, config), actor="m3bot open-due", workspace=agency)
        result = open_due(OpenDue(day, config.catch_up_days, caller_rule=config.m3_caller), uow)
    if notifier is None and result.due:
        typer.echo(t("cli.open_due.no_channel"))
    if result.due:
        typer.echo(t("cli.open_due.opened", count=len(result.due), ids=", ".join(map(str, result.due))))
    else:
        typer.echo(t("cli.open_due.none_opened"))
    if result.out_of_time:
        typer.echo(
            t(
                "cli.open_due.out_of_time",
                count=len(result.out_of_time),
                days=config.catch_up_days,
                ids=", ".join(map(str, result.out_of_time)),
            )
        )


def _export_day(value: str | None, default: date) -> date:
    if value is None:
        return default
    for parse in (date.fromisoformat, lambda v: datetime.strptime(v, "%d/%m/%Y").date()):
        try:
            return parse(value)
        except ValueError:
            pass
    fail(t("dashboards.export.bad_date", value=value))


@app.command("export", help=t("dashboards.export.help"))
@guarded
def export_command(
    start: Annotated[str | None, typer.Option("--from", metavar="AAAA-MM-JJ", help=t("dashboards.export.from_help"))] = None,
    end: Annotated[str | None, typer.Option("--to", metavar="AAAA-MM-JJ", help=t("dashboards.export.to_help"))] = None,
    out: Annotated[Path, typer.Option("--out", help=t("dashboards.export.out_help"))] = Path("."),
) -> None:
    if start is None:
        fail(t("dashboards.export.from_missing"))
    config = settings()
    today = datetime.now(ZoneInfo(config.agency_timezone)).date()
    period = Period(_export_day(start, today), _export_day(end, today))
    if period.start > period.end:
        fail(t("dashboards.export.bad_period", start=_day(period.start), end=_day(period.end)))
    with database() as engine:
        agency = workspace(engine)
        try:
            with progress_bar(t("dashboards.export.progress")) as advance:
                report = export_files(engine, agency, period, out, timezone=config.agency_timezone, today=today,
                                      progress=advance)
        except OSError:
            fail(t("dashboards.export.out_not_writable", path=out))
        record_access(RecordAccess(access_trail.DATA_EXPORTED, {"from": period.start, "to": period.end,
                                                               "cases": report.cases, "actions": report.actions}),
                      UnitOfWork(engine, actor=operator(), workspace=agency))
    typer.echo(t("dashboards.export.done", cases=report.cases, actions=report.actions, events=report.events,
                 calendars=len(report.calendars), path=out))


@app.command("run", help=t("cli.run.help"))
def run_command(
    no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help=t("cli.run.no_scheduler"))] = False,
) -> None:
    run(settings(), scheduler=not no_scheduler)


@app.command("scheduler", help=t("cli.scheduler.help"))
def scheduler_command() -> None:
    run_scheduler(settings())


app.add_typer(rgpd_app, name="rgpd")
app.add_typer(workspace_app, name="workspace")
app.add_typer(audit_app, name="audit")


# Commands other packages add (the sandbox's `m3bot sandbox`), declared as entry points in pyproject.toml: the
# command line knows them by name only, so `bot/` imports nothing of theirs.
for _plugin in entry_points(group="m3bot.commands"):
    _plugin.load()(app)
