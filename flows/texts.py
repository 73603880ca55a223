"""The French texts the domain itself renders, from the YAML files of `flows/texts/`, and the loader they share
with the interface's wording (`wording/`).

The domain's texts are its vocabulary (`labels.yml`), the guide's call script and checklist, the compliance
verdict, and the protection catalogue the rules read (`catalog.yml`). An agency may reword them from a folder of
its own (`configure()`), key by key, except the catalogue: the rules depend on it, so an override that touches it
is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class MissingText(KeyError):
    """A key asked by the code is absent from the text files: a bug or a broken override."""


class FixedText(ValueError):
    """An agency's override folder touches texts the rules depend on (the protection catalogue)."""

    def __init__(self, folder: Path, sections: list[str]) -> None:
        super().__init__(f"{folder}: these texts are part of the rules and cannot be overridden: {sections}")
        self.folder = folder
        self.sections = sections


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


class Texts:
    """The `*.yml` files of one folder, merged (their top-level keys must not overlap), with an agency's
    overrides of those keys on top. Keys of other top-level sections are looked up in `fallback`."""

    def __init__(self, folder: Path, *, fixed: frozenset[str] = frozenset(), fallback: Texts | None = None) -> None:
        self._folder = folder
        self._fixed = fixed
        self._fallback = fallback
        self._override: dict[str, Any] = {}
        self._merged: dict[str, Any] | None = None

    def sections(self) -> frozenset[str]:
        """The top-level keys of the built-in files."""
        return frozenset(self._catalogue())

    def configure(self, override_dir: Path | None) -> None:
        """Use an agency's folder of YAML files on top of the built-in texts (and of the fallback's). Raises
        `FixedText` when the folder rewords a fixed section."""
        if self._fallback is not None:
            self._fallback.configure(override_dir)
        override = _read_folder(override_dir, unique=False) if override_dir is not None else {}
        if override_dir is not None and (fixed := sorted(self._fixed & override.keys())):
            raise FixedText(override_dir, fixed)
        self._override = override
        self._merged = None

    def _catalogue(self) -> dict[str, Any]:
        if self._merged is None:
            merged = _read_folder(self._folder, unique=True)
            if self._fallback is not None and (clash := merged.keys() & self._fallback.sections()):
                raise ValueError(f"{self._folder}: keys already defined by the fallback texts: {sorted(clash)}")
            _merge(merged, {key: value for key, value in self._override.items() if key in merged})
            self._merged = merged
        return self._merged

    def data(self, key: str) -> Any:
        """The raw value at a dotted key: a string, a list or a mapping."""
        node: Any = self._catalogue()
        if self._fallback is not None and key.split(".")[0] not in node:
            return self._fallback.data(key)
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise MissingText(key)
            node = node[part]
        return node

    def t(self, key: str, **values: Any) -> str:
        """The French text at a dotted key, with `{placeholders}` filled from `values`."""
        text = self.data(key)
        if not isinstance(text, str):
            raise MissingText(f"{key} is not a text")
        return text.format(**values) if values else text


DOMAIN = Texts(Path(__file__).with_name("texts"), fixed=frozenset({"catalog"}))
configure = DOMAIN.configure
data = DOMAIN.data
t = DOMAIN.t
