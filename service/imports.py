"""The import of the management system's (Lagon) CSV export as a use case: each row validated, then written in
a unit of work of its own (a bad row is reported with its line number, never half-written, while the good
rows go in), and the run recorded. The rows' side is `storage.importer`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from flows.opening import CallerRule
from service.unit_of_work import UnitOfWork
from storage.importer import (
    ImportOptions,
    ImportReport,
    RowRejected,
    duplicate_lines,
    import_row,
    parse_row,
    previous_import_at,
    read_rows,
    record_run,
    same_file_imported_at,
)
from wording import t

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportExport:
    data: bytes
    file_name: str
    window_days: int = 30  # contracts of one client subscribed within this many days share one case
    m3_offset_months: int = 3
    catch_up_days: int = 30
    mapping: dict[str, str] | None = None  # our column names -> the agency's headers
    caller_rule: CallerRule = "account_manager"
    # The request that brought the file (a Slack event): a repeat of it imports nothing (`RepeatedRequest`).
    request_key: str | None = None

    @classmethod
    def of_file(cls, path: Path, **options: object) -> ImportExport:
        return cls(Path(path).read_bytes(), Path(path).name, **options)  # type: ignore[arg-type]


class RepeatedRequest(Exception):
    """The request that brought the file was handled already (Slack's retry of its event): nothing imported."""


def import_export(command: ImportExport, new_uow: Callable[[], UnitOfWork], *,
                  progress: Progress | None = None) -> ImportReport:
    """Import the export's rows, each in a unit of work of its own (`new_uow`); `progress(done, total)`
    follows the rows. Two rows of the file with the same contract number are both rejected. The same bytes
    imported again change nothing (their rows come out unchanged) and the report says when they were first;
    a repeat of the request (`command.request_key`) raises `RepeatedRequest` before any row."""
    report = ImportReport(file_name=command.file_name)
    with new_uow() as first:
        if not first.claim(command.request_key):
            raise RepeatedRequest(command.request_key)
        now = first.now
        report.same_file_at = same_file_imported_at(first.session, command.data)
        options = ImportOptions(window_days=command.window_days, months=command.m3_offset_months,
                                catch_up_days=command.catch_up_days, now=now,
                                previous_import_at=previous_import_at(first.session), caller_rule=command.caller_rule)
    lines = list(read_rows(command.data, command.mapping))
    duplicates = duplicate_lines(lines)
    for done, (line, values) in enumerate(lines, start=1):
        if progress is not None:
            progress(done, len(lines))
        if line in duplicates:
            report.rejected.append((line, t("cli.import.duplicate_contract", lines=", ".join(map(str, duplicates[line])))))
            continue
        found = ImportReport(file_name=command.file_name)  # this row's conflicts, kept only if the row is written
        try:
            parsed = parse_row(values, today=now.date())
            with new_uow() as uow:
                outcome = import_row(uow.session, parsed, options, line, found)
        except RowRejected as error:
            report.rejected.append((line, error.reason))
            continue
        except (sa.exc.IntegrityError, sa.exc.DataError):  # DataError: a value the database refuses (NUL byte)
            report.rejected.append((line, t("cli.import.failed")))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.conflicts += found.conflicts
        report.out_of_time += found.out_of_time
    with new_uow() as uow:
        record_run(uow.session, report, command.data, now)
    return report
