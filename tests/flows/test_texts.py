"""Every text key the code asks for by name exists in the built-in YAML files (a misplaced YAML block or a
typo otherwise surfaces as MissingText in front of a user); the domain's texts and the interface's wording
hold separate sections, the domain reads its own alone, and an agency's override rewords texts but never the
protection catalogue the rules read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import wording
from flows import texts
from flows.engine import Refused
from flows.validation import Invalid

ROOT = Path(__file__).parents[2]
PACKAGES = ("bot", "flows", "scheduler", "service", "storage", "sandbox", "wording")
# The sections the domain renders itself; every other one is the interface's (`wording/fr/`).
DOMAIN_SECTIONS = {"catalog", "checklist", "labels", "script", "verdict"}
# t("a.b", …), texts.t / wording.data with a literal key; a module may wrap `t` with a prefix of its own.
LITERAL_KEY = re.compile(r"""(\b(?:texts|wording)\.|(?<![\w.]))(?:t|data)\(\s*["']([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*)["']""")
WRAPPER = re.compile(r"""^def t\(.*\n\s+(?:\"\"\".*\"\"\"\n\s+)?return (?:texts|wording)\.t\(f["']([a-z_.]+)\.\{key\}""",
                     re.MULTILINE)
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


def top_keys(folder: Path) -> dict[str, set[str]]:
    return {path.name: set(yaml.safe_load(path.read_text(encoding="utf-8"))) for path in sorted(folder.glob("*.yml"))}


@pytest.fixture
def override(tmp_path: Path) -> Iterator[Path]:
    """An agency's folder of overrides, dropped after the test."""
    yield tmp_path
    wording.configure(None)


def test_the_code_names_text_keys():
    assert len(literal_keys()) > 100  # the scan itself works


@pytest.mark.parametrize(("where", "key"), literal_keys(), ids=lambda value: value)
def test_each_text_key_named_in_the_code_exists(where, key):
    wording.configure(None)
    # The domain finds its keys in its own texts, without the interface's wording.
    (texts if where.startswith("flows.") else wording).data(key)


def test_the_domain_keeps_only_its_own_texts_and_the_interface_the_rest():
    domain = top_keys(ROOT / "flows" / "texts")
    interface = top_keys(ROOT / "wording" / "fr")
    assert set().union(*domain.values()) == DOMAIN_SECTIONS
    moved = set().union(*interface.values())
    assert {"cli", "doctor", "slack", "sandbox", "bot", "listeners", "dashboards", "reasons", "validation"} <= moved
    assert moved.isdisjoint(DOMAIN_SECTIONS)


def test_the_protection_catalogue_cannot_be_overridden(override):
    label = texts.data("catalog.protections")[0]["label"]
    (override / "catalogue.yml").write_text("catalog:\n  protections: []\n", encoding="utf-8")
    with pytest.raises(texts.FixedText, match="catalog"):
        wording.configure(override)
    with pytest.raises(texts.FixedText):
        texts.configure(override)
    assert texts.data("catalog.protections")[0]["label"] == label
    assert wording.data("catalog.protections")[0]["label"] == label


def test_an_override_rewords_the_interface_and_the_domain_texts(override):
    (override / "agence.yml").write_text(
        'reasons:\n  case_closed: "Dossier fermé."\nscript:\n  agreement: "On parle de vos contrats ?"\n'
        'labels:\n  field:\n    phone: "Portable"\n', encoding="utf-8")
    wording.configure(override)
    assert wording.refusal(Refused("case_closed")) == "Dossier fermé."
    assert texts.t("script.agreement") == wording.t("script.agreement") == "On parle de vos contrats ?"
    assert wording.t("labels.field.phone") == "Portable"
    assert wording.t("labels.field.email") == "E-mail"  # key by key: the rest stays


def test_a_refusal_is_a_code_worded_by_the_interface():
    wording.configure(None)
    refused = Refused("too_many_priorities", max=3)
    assert str(refused) == "too_many_priorities"
    assert wording.refusal(refused) == wording.t("reasons.too_many_priorities", max=3)
    assert wording.refusal(Invalid("siren_length")) == wording.t("validation.siren_length")
