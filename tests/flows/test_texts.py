"""Every text key the code asks for by name exists in the built-in YAML files (a misplaced YAML block or a
typo otherwise surfaces as MissingText in front of a user)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows import texts

ROOT = Path(__file__).parents[2]
PACKAGES = ("bot", "flows", "scheduler", "storage", "sandbox")
# t("a.b", …), texts.t / texts.data with a literal key; a module may wrap `t` with a prefix of its own.
LITERAL_KEY = re.compile(r"""(\btexts\.|(?<![\w.]))(?:t|data)\(\s*["']([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)["']""")
WRAPPER = re.compile(r"""^def t\(.*\n\s+(?:\"\"\".*\"\"\"\n\s+)?return texts\.t\(f["']([a-z_.]+)\.\{key\}""", re.MULTILINE)
IMPORTED_T = re.compile(r"^from ([\w.]+) import .*\bt\b", re.MULTILINE)


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def literal_keys() -> list[tuple[str, str]]:
    sources = {module_of(path): path.read_text(encoding="utf-8")
               for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}
    prefixes = {module: match.group(1) + "." for module, source in sources.items()
                if (match := WRAPPER.search(source))}
    found = []
    for module, source in sources.items():
        imported = IMPORTED_T.search(source)
        prefix = prefixes.get(module) or (prefixes.get(imported.group(1), "") if imported else "")
        for qualified, key in LITERAL_KEY.findall(source):
            full = key if qualified else prefix + key  # `texts.t(...)` is never prefixed
            if "." in full:
                found.append((module, full))
    return found


def test_the_code_names_text_keys():
    assert len(literal_keys()) > 100  # the scan itself works


@pytest.mark.parametrize(("where", "key"), literal_keys(), ids=lambda value: value)
def test_each_text_key_named_in_the_code_exists(where, key):
    texts.configure(None)
    texts.data(key)
