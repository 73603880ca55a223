"""The shape of the code, read from its imports and calls: the layers point inwards, no module imports itself
back through others, and no entry point writes to the database but through a use case of `service/`.

Layers, inner first: `flows/` (the guide, pure Python) < `storage/` (rows) < `service/` (the use cases,
each owning its transaction) < the entry points and adapters (`bot/`, `scheduler/`, `sandbox/`). The interface's
French (`wording/`) sits beside the domain: it reads the domain's texts through `flows.texts`, every layer but
the domain reads it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "wording", "storage", "service", "config", "bot", "scheduler", "sandbox")
# What each package may import from the project (itself included).
ALLOWED = {
    "flows": {"flows"},  # the domain's refusals are codes: it never reads the interface's wording
    "wording": {"wording", "flows"},  # `flows.texts` only, see below
    "config": {"config", "flows", "wording", "storage"},  # the pacing settings are storage's buckets
    "storage": {"storage", "flows", "wording"},
    "service": {"service", "storage", "flows", "wording", "config"},
    "scheduler": {"scheduler", "service", "storage", "flows", "wording", "config"},
    "bot": {"bot", "service", "storage", "flows", "wording", "config", "scheduler"},
    "sandbox": set(PACKAGES),
}
# The entry points: they translate their input into a service command and its result into their output.
ENTRY_POINTS = ("bot/listeners/", "bot/cli", "bot/dispatch.py", "bot/middleware.py", "bot/runner.py", "scheduler/",
                "sandbox/demo.py", "sandbox/web.py")
# What writes, below the service layer: an entry point that calls it writes around the unit of work.
WRITERS = {
    "storage.outbox": {"enqueue"},
    "storage.audit": {"append", "append_facts"},
    "storage.access_trail": {"record", "lead_opened", "record_settings"},
    "storage.repository": {"save_case"},
    "storage.importer": {"import_row", "record_run"},
    "storage.rgpd": {"erase"},
    "storage.queries": {"mark_opened", "mark_out_of_time", "open_by_hand", "apply_caller_rule", "assign_callers"},
    "service.unit_of_work": {"unit_of_work"},  # a handler enters the unit of work, not its caller
}
TRANSACTION_CALLS = {"begin", "commit", "flush"}
SESSION_WRITES = {"add", "add_all", "delete", "merge"}  # on a session


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), path


def imports(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module, name or None, line) for every import of the file, late ones (inside functions) included; those
    for the type checker only (`if TYPE_CHECKING:`) run never, and are left out."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
                   for statement in node.body for inner in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno


def first_party(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def test_inner_layers_never_import_outer_ones() -> None:
    wrong = [f"{name}:{line} imports {module}" for name, path in modules() for module, _, line in imports(path)
             if first_party(module) and module.split(".")[0] not in ALLOWED[name.split(".")[0]]]
    assert wrong == []


def test_the_wording_reads_only_the_text_loader_of_the_domain() -> None:
    wrong = [f"{name}:{line} imports {module}" for name, path in modules() if name.split(".")[0] == "wording"
             for module, _, line in imports(path) if first_party(module) and module.split(".")[0] != "wording"
             and module != "flows.texts"]
    assert wrong == []
    assert "wording" not in ALLOWED["flows"]


def test_no_module_imports_itself_back_through_others() -> None:
    known = dict(modules())
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for module, imported, _ in imports(path):
            target = f"{module}.{imported}" if imported and f"{module}.{imported}" in known else module
            if target in known and target != name and not name.startswith(f"{target}."):
                graph[name].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def entry_points() -> list[tuple[str, Path]]:
    return [(name, path) for name, path in modules()
            if str(path.relative_to(ROOT)).startswith(ENTRY_POINTS)]


@pytest.mark.parametrize(("name", "path"), entry_points(), ids=[name for name, _ in entry_points()])
def test_an_entry_point_writes_only_through_a_use_case(name: str, path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    wrong = [f"line {line}: {module}.{imported or '*'}" for module, imported, line in imports(path)
             if module in WRITERS and (imported is None or imported in WRITERS[module])]
    wrong += [f"line {node.lineno}: .{node.func.attr}()" for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and (node.func.attr in TRANSACTION_CALLS
                   or node.func.attr in SESSION_WRITES and "session" in ast.unparse(node.func.value))]
    # `from storage import outbox` then `outbox.enqueue(...)`: a writer reached through its module.
    aliases = {imported: module for module, imported, _ in imports(path) if imported and f"{module}.{imported}" in WRITERS}
    wrong += [f"line {node.lineno}: {node.value.id}.{node.attr}" for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
              and node.attr in WRITERS[f"{aliases[node.value.id]}.{node.value.id}"]]
    assert wrong == []


# The modules that open sessions themselves: the one that scopes them, and the unit of work, which scopes its own.
SESSION_MAKERS = {"storage.workspaces", "service.unit_of_work"}


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=[name for name, _ in modules()])
def test_every_session_is_opened_for_one_agency_or_on_purpose_for_all(name: str, path: Path) -> None:
    """A plain `Session(engine)` sees every agency's rows: the product opens a session of one workspace
    (`storage.workspaces.session_for`, `BotDeps.read`, a unit of work) or, for the work done for all of them,
    says so (`all_workspaces`)."""
    if name in SESSION_MAKERS:
        return
    tree = ast.parse(path.read_text(), str(path))
    opened = [f"line {node.lineno}" for node in ast.walk(tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Session"]
    assert opened == []
