"""The import of the Lagon export as both entry points run it: the command line (`m3bot import`) and a file a
lead shares with the bot in Slack (`bot.listeners.events.file_import`). Both build the same use case from the
agency's settings (`service.imports`) and print the same report, line by line, from `wording/fr/cli.yml`.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.views.text import moment
from config.settings import Settings
from service.imports import ImportExport, Progress, import_export
from service.unit_of_work import UnitOfWork
from storage.importer import ACTOR, ImportReport, load_mapping
from wording import t


def run_import(config: Settings, engine: Engine, workspace: int, data: bytes, file_name: str, *,
               request_key: str | None = None, progress: Progress | None = None) -> ImportReport:
    """Import `data` into `workspace` (the agency the command line names, or the Slack request's) with the
    agency's settings (window, M+3 offset, catch-up, column mapping, caller rule): every row is read and
    written in that workspace only. Raises `storage.importer.NotALagonExport` (file or mapping unreadable) and, for a repeat of
    `request_key`, `service.imports.RepeatedRequest`."""
    command = ImportExport(data, file_name, window_days=config.case_window_days,
                           m3_offset_months=config.m3_offset_months, catch_up_days=config.catch_up_days,
                           mapping=load_mapping(config.import_mapping), caller_rule=config.m3_caller,
                           request_key=request_key)
    return import_export(command, lambda: UnitOfWork(engine, actor=ACTOR, workspace=workspace), progress=progress)


def report_lines(report: ImportReport, config: Settings, *, out_of_time_hint: str | None = None,
                 max_rows: int | None = None) -> list[str]:
    """The report: the counts, each rejected line with its reason, each conflict, the cases set aside.
    `out_of_time_hint` replaces the command line's pointer to the cases set aside; `max_rows` caps the
    listed rejected and conflicting lines (a Slack message is not a terminal), the rest counted."""
    lines = [t("cli.import.summary", file=report.file_name, imported=report.imported, updated=report.updated,
               unchanged=report.unchanged, rejected=len(report.rejected))]
    if report.same_file_at is not None:
        lines.append(t("cli.import.same_file", when=moment(report.same_file_at, config.agency_timezone)))
    lines += _capped([t("cli.import.rejected_line", line=line, reason=reason) for line, reason in report.rejected],
                     max_rows)
    if report.conflicts:
        lines.append(t("cli.import.conflicts", count=len(report.conflicts)))
        lines += _capped([t("cli.import.conflict_line", line=line, text=text) for line, text in report.conflicts],
                         max_rows)
    if report.out_of_time:
        lines.append(t("cli.import.out_of_time", count=report.out_of_time, days=config.catch_up_days,
                       where=out_of_time_hint or t("cli.import.out_of_time_cli")))
    return lines


def _capped(rows: list[str], limit: int | None) -> list[str]:
    if limit is None or len(rows) <= limit:
        return rows
    return [*rows[:limit], t("cli.import.more_lines", count=len(rows) - limit)]
