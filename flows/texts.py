"""Every French string the agent reads, loaded from the editable YAML files of `flows/texts/`.

All `*.yml` files of the folder are merged (their top-level keys must not overlap); an agency can point
`configure()` at a folder of its own whose files override keys one by one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_BUILTIN = Path(__file__).with_name("texts")
_override_dir: Path | None = None


class MissingText(KeyError):
    """A key asked by the code is absent from the text files: a bug or a broken override."""


def configure(override_dir: Path | None) -> None:
    """Use an agency's folder of YAML files on top of the built-in texts."""
    global _override_dir
    _override_dir = override_dir
    _catalogue.cache_clear()


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _read_folder(folder: Path, *, unique: bool) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(folder.glob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if unique and (clash := merged.keys() & content.keys()):
            raise ValueError(f"{path.name}: keys already defined in another text file: {sorted(clash)}")
        _merge(merged, content)
    return merged


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    merged = _read_folder(_BUILTIN, unique=True)
    if _override_dir is not None:
        _merge(merged, _read_folder(_override_dir, unique=False))
    return merged


def data(key: str) -> Any:
    """The raw value at a dotted key: a string, a list or a mapping."""
    node: Any = _catalogue()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise MissingText(key)
        node = node[part]
    return node


def t(key: str, **values: Any) -> str:
    """The French text at a dotted key, with `{placeholders}` filled from `values`."""
    text = data(key)
    if not isinstance(text, str):
        raise MissingText(f"{key} is not a text")
    return text.format(**values) if values else text
