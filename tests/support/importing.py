"""Importing an export in a test as `m3bot import` does (`service.imports`), at a chosen time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from service.imports import ImportExport, Progress, import_export
from service.unit_of_work import UnitOfWork
from storage.importer import ACTOR, ImportReport


def import_csv(engine: Engine, data: bytes, file_name: str, *, now: datetime | None = None,
               progress: Progress | None = None, **options: Any) -> ImportReport:
    return import_export(ImportExport(data, file_name, **options), lambda: UnitOfWork(engine, actor=ACTOR, now=now),
                         progress=progress)


def import_csv_file(engine: Engine, path: Path, **options: Any) -> ImportReport:
    return import_csv(engine, Path(path).read_bytes(), Path(path).name, **options)
