"""Files of client data the product writes (`m3bot export`, `m3bot rgpd export`, compliance records): readable
and writable by their owner only (0600), in a directory the product creates for its owner only (0700), so that
other accounts of the machine never read them, whatever the umask. A directory that already exists keeps its
permissions: it is the operator's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_directory(path: Path) -> None:
    """Create `path` and any missing parent, each for its owner only."""
    for directory in reversed([p for p in (path, *path.parents) if not p.exists()]):
        directory.mkdir(mode=DIRECTORY_MODE)
        directory.chmod(DIRECTORY_MODE)


def open_private(path: Path, mode: str = "w", **options: Any) -> IO[Any]:
    """`path` opened for writing (`mode` "w" or "wb", `options` as for `open`), created 0600; an existing file
    is truncated and made 0600 before anything is written, so the data is never readable by others."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, mode, **options)


def write_bytes(path: Path, data: bytes) -> None:
    with open_private(path, "wb") as out:
        out.write(data)


def write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    with open_private(path, "w", encoding=encoding) as out:
        out.write(text)
